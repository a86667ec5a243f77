// Parse benchmark peer: @medplum/hl7 (npm), run with Node 20 or later.
//
// usage: node medplum_parse.mjs CORPUS [MIN_SECONDS]
//
// CORPUS is a raw file from `gen_oru -f raw`. The file is split into
// messages before timing; the timed loop parses each message with
// Hl7Message.parse() and reads OBX-5 of every OBX as a string, over the
// corpus again and again until at least MIN_SECONDS (default 3) have passed.
// Prints one line of JSON.

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

// Hl7Message lives in @medplum/core in current releases; older ones
// re-exported it from @medplum/hl7.
async function loadHl7Message() {
  const hl7 = await import("@medplum/hl7");
  if (typeof hl7.Hl7Message === "function") return hl7.Hl7Message;
  const core = await import("@medplum/core");
  if (typeof core.Hl7Message === "function") return core.Hl7Message;
  throw new Error("neither @medplum/hl7 nor @medplum/core exports Hl7Message");
}

// A message starts at an "MSH|" that begins a segment.
function splitMessages(text) {
  return text.split(/(?:^|(?<=[\r\n]))(?=MSH\|)/).filter((m) => m.length > 0);
}

function parseCorpus(Hl7Message, messages) {
  let total = 0;
  for (const text of messages) {
    const msg = Hl7Message.parse(text);
    for (const seg of msg.getAllSegments("OBX")) {
      total += seg.getField(5).toString().length;
    }
  }
  return total;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 1 || args.length > 2) {
    console.error("usage: node medplum_parse.mjs CORPUS [MIN_SECONDS]");
    process.exit(2);
  }
  const minSeconds = args.length === 2 ? Number(args[1]) : 3;
  const Hl7Message = await loadHl7Message();
  const messages = splitMessages(readFileSync(args[0], "utf8"));
  if (messages.length === 0) {
    console.error(`medplum_parse.mjs: no messages in ${args[0]}`);
    process.exit(1);
  }
  const corpusBytes = messages.reduce(
    (n, m) => n + Buffer.byteLength(m, "utf8"),
    0,
  );

  parseCorpus(Hl7Message, messages.slice(0, 50)); // warm-up, untimed
  let passes = 0;
  let sink = 0;
  let elapsed = 0;
  const start = performance.now();
  for (;;) {
    sink += parseCorpus(Hl7Message, messages);
    passes++;
    elapsed = (performance.now() - start) / 1000;
    if (elapsed >= minSeconds) break;
  }
  if (sink === 0) {
    console.error("medplum_parse.mjs: no OBX-5 values read");
    process.exit(1);
  }

  const n = passes * messages.length;
  const b = passes * corpusBytes;
  console.log(
    JSON.stringify({
      peer: "@medplum/hl7",
      messages: n,
      bytes: b,
      seconds: Math.round(elapsed * 1000) / 1000,
      msg_per_s: Math.round((n / elapsed) * 10) / 10,
      mb_per_s: Math.round((b / elapsed / 1e6) * 1000) / 1000,
    }),
  );
}

await main();
