// End-to-end benchmark peer: an @medplum/hl7 MLLP server that parses each
// message and answers its ACK, storing nothing. Loopback only.
//
// usage: node medplum_server.mjs PORT
//
// Hl7Server.start() listens on every interface, so the socket server is our
// own and each accepted socket is wrapped in an Hl7Connection, as
// Hl7Server does internally. Prints "ready" once listening.

import net from "node:net";
import { Hl7Connection } from "@medplum/hl7";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error("usage: node medplum_server.mjs PORT");
  process.exit(2);
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const connection = new Hl7Connection(socket);
  connection.addEventListener("message", (event) => {
    connection.send(event.message.buildAck());
  });
  // A sender that goes away mid-frame is not the server's failure.
  connection.addEventListener("error", () => {});
  socket.on("error", () => {});
});

server.on("error", (err) => {
  console.error(`medplum_server: ${err.message}`);
  process.exit(1);
});
server.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => {
  process.stdout.write("ready\n");
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => process.exit(0));
}
