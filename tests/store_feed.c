/*
 * store_feed.c: feed the frames of files straight into libstore (no
 * network) and print, per frame, its outcome and the ACK it earned, as
 * JSON lines. The integration tests use it to check the store against a
 * real PostgreSQL: duplicates, quarantine, the spool while the database is
 * down, the drain when it returns.
 *
 *   store_feed --db CONNINFO --protocol FILE --spool FILE [--sql-dir DIR]
 *              [--wait-drain SECONDS] [--batch N] [--max-observations N]
 *              FILE...
 */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "lib/json.h"
#include "hl7/mllp.h"
#include "hl7/split.h"
#include "store/store.h"

static void
logger(void *arg, int level, const char *msg)
{
	(void)arg;
	fprintf(stderr, "store[%d]: %s\n", level, msg);
}

static int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
print_item(struct store_item *it)
{
	struct buf b;
	const char *msa;

	buf_init(&b);
	buf_adds(&b, "{\"outcome\":");
	json_strz(&b, store_outcome_name(it->outcome));
	buf_adds(&b, ",\"control_id\":");
	json_strz(&b, it->control_id);
	buf_adds(&b, ",\"ack_code\":");
	msa = it->send_ack && it->ack.p ? strstr(it->ack.p, "\rMSA") : NULL;
	if (msa != NULL)
		json_str(&b, msa + 5, 2);
	else
		buf_adds(&b, "null");
	buf_adds(&b, ",\"reason\":");
	json_strz(&b, it->reason);
	buf_adds(&b, ",\"ack\":");
	json_str(&b, it->ack.p ? it->ack.p : "", it->ack.len);
	buf_adds(&b, "}\n");
	fputs(b.p, stdout);
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "protocol", required_argument, NULL, 'p' },
		{ "spool", required_argument, NULL, 's' },
		{ "sql-dir", required_argument, NULL, 'q' },
		{ "wait-drain", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },
		{ "no-logger", no_argument, NULL, 'n' },
		{ "max-observations", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_config cfg;
	struct store_stats st;
	struct store *s;
	struct store_item *it, *next;
	struct hl7_split *sp;
	struct hl7_split_item si;
	struct pollfd pfd;
	char *cause = NULL, *buf;
	size_t len, submitted = 0, done = 0;
	int ch, i, wait_drain = 0;
	time_t deadline;

	memset(&cfg, 0, sizeof(cfg));
	cfg.log = logger;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			cfg.conninfo = optarg;
			break;
		case 'p':
			cfg.protocol_path = optarg;
			break;
		case 's':
			cfg.spool_path = optarg;
			break;
		case 'q':
			cfg.sql_dir = optarg;
			break;
		case 'w':
			wait_drain = atoi(optarg);
			break;
		case 'b':
			cfg.batch_max = (size_t)atoi(optarg);
			break;
		case 'n':
			cfg.log = NULL;
			break; /* must be refused */
		case 'o':
			cfg.max_observations = (uint32_t)atoi(optarg);
			break;
		default:
			fprintf(stderr,
			    "usage: store_feed --db C --protocol F "
			    "--spool F [--sql-dir D] [--wait-drain S] FILE...\n");
			return 2;
		}
	}
	s = store_start(&cfg, NULL, &cause);
	if (s == NULL) {
		fprintf(stderr, "store_feed: %s\n", cause);
		free(cause);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		if (cli_read_file(argv[i], &buf, &len) != 0) {
			perror(argv[i]);
			return 2;
		}
		sp = hl7_split_new(buf, len, 0);
		while (hl7_split_next(sp, &si) == 1) {
			it = store_item_new(si.is_error ?
				STORE_FRAME_ABANDONED :
				STORE_FRAME,
			    si.data, si.len, si.len);
			snprintf(it->peer, sizeof(it->peer), "store_feed");
			it->received_at = now_us();
			store_submit(s, it);
			submitted++;
		}
		hl7_split_free(sp);
		free(buf);
	}
	pfd.fd = store_completion_fd(s);
	pfd.events = POLLIN;
	while (done < submitted) {
		if (poll(&pfd, 1, 10000) <= 0) {
			fprintf(stderr, "store_feed: no completion in 10 s\n");
			return 1;
		}
		for (it = store_completions(s); it != NULL; it = next) {
			next = it->next;
			print_item(it);
			store_item_free(it);
			done++;
		}
	}
	/* Let the writer drain the spool into a database that came back. */
	deadline = time(NULL) + wait_drain;
	do {
		store_stats(s, &st);
		if (st.spooled_pending == 0)
			break;
		usleep(100000);
	} while (time(NULL) < deadline);
	store_stats(s, &st);
	fprintf(stderr, "store_feed: spool pending %llu\n",
	    (unsigned long long)st.spooled_pending);
	store_stop(s);
	fflush(stdout);
	return st.spooled_pending == 0 || wait_drain == 0 ? 0 : 1;
}
