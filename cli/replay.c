/*
 * replay.c: the sending engine of `labwatch replay`.
 *
 * The main thread reads the inputs, splits and parses each message, and
 * queues it on a connection; one thread per connection sends a message
 * and waits for its ACK before the next, resends included. A patient with
 * messages queued or in flight is bound to their connection, so its next
 * message queues behind them; a patient with none outstanding (every
 * earlier message answered) goes to the connection with the fewest
 * messages queued or in flight. So a patient's messages reach labwatchd
 * in file order, and no connection idles while another has a backlog
 * (replay_route.c chooses).
 * Every queued message gets a sequence number; the checkpoint is the end
 * of the last message below which every message has been answered
 * (accepted, or AE: resending would not help), so --resume continues
 * from there. Messages after it may be sent twice; labwatchd stores a
 * message it has already stored once (sender + MSH-10 are its key).
 *
 * With --direct there are no connections: each message is handed to
 * labwatchd's store (replay_direct.c) in file order, and a thread takes
 * them back, in the same order, once their batch has committed; the same
 * sequence numbers and checkpoint apply.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/replay.h"
#include "cli/replay_route.h"
#include "hl7/ack.h"
#include "hl7/hl7.h"
#include "hl7/oru.h"
#include "hl7/split.h"
#include "lib/xmalloc.h"

#define QUEUE_MAX 64		  /* messages waiting per connection */
#define QUEUE_BYTES (16u << 20)	  /* bytes of messages queued or in flight */
#define BACKOFF_FIRST_MS 100	  /* first wait before a resend */
#define BACKOFF_MAX_MS 5000	  /* longest wait between resends */
#define DIRECT_SLOTS 2048	  /* --direct: messages in the store at most */
#define DIRECT_BYTES (256u << 20) /* and their bytes */

/* One queued message; owned by its queue, then by the sending thread. */
struct rmsg {
	uint64_t seq;
	struct replay_binding *b; /* its patient's */
	size_t input, end; /* input index and the byte after the message */
	bool enhanced;	   /* MSH-15/16 valued: CA is an acceptance */
	char *data;
	size_t len;
	struct rmsg *next;
};

/* Where an answered message ends; one slot per sequence number in flight. */
struct slot {
	size_t input, end;
	bool answered;
	size_t len; /* --direct: its bytes, for the message and the limit */
};

struct replay;

/* One connection and its thread; owned by struct replay. */
struct sender {
	struct replay *r;
	pthread_t tid;
	int idx;
	struct mllp_client c;
	struct rmsg *head, *tail;
	int n; /* messages queued */
	pthread_cond_t wake;
};

/* A run; the lock guards the queues, the slots and the counters. */
struct replay {
	const struct replay_opts *o;
	const struct replay_inputs *in;
	pthread_mutex_t lock;
	pthread_cond_t space; /* a queue or a slot came free */
	struct sender *s;
	struct replay_route route; /* which connection a patient's goes on */
	struct slot *slots;
	size_t nslots;
	uint64_t next_seq, low; /* low: first message not answered */
	size_t held;		/* bytes of the messages queued or in flight */
	uint64_t frozen_at;	/* first given-up message: the checkpoint
				   stays below it (UINT64_MAX: none) */
	bool feeding_done;
	size_t ck_input, ck_end; /* the checkpoint */
	bool ck_dirty;
	uint64_t codes[MLLP_ACK_NCODES];
	uint64_t sent, bytes, resent, broken, gave_up;
	uint64_t ca_unasked; /* CA to a message in original mode */
	size_t cur_input;    /* for progress */
	double done_frac;    /* of the inputs' bytes fed */
	struct timespec start;
	bool stop_progress;
	pthread_cond_t progress_wake;
	/* --direct */
	struct replay_direct *d;
	uint64_t outcomes[STORE_NOUTCOMES];
	size_t inflight_bytes;
};

/* Set by SIGINT/SIGTERM; read by every thread. */
static atomic_int stopping;

/*
 * Set when a message is given up (AR or no answer after --retries): the
 * run stops, since sending that patient's later messages would store
 * them before it, and with labwatchd or its database down every further
 * message would only wait out its backoff too.
 */
static atomic_int halting;

/* True when no further message is to be taken up. */
static bool
quitting(void)
{
	return atomic_load(&stopping) || atomic_load(&halting);
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static double
elapsed_s(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) != 0 && errno == EINTR && !quitting())
		;
}

/* ---- the checkpoint ---- */

/* Write the checkpoint atomically: a temporary file, fsync, rename. */
static int
checkpoint_write(const char *path, size_t input, size_t end, const char *name)
{
	char *tmp = xasprintf("%s.tmp", path), *dir, *slash;
	FILE *f;
	int fd, rc = -1;

	if ((f = fopen(tmp, "w")) == NULL)
		goto out;
	fprintf(f,
	    "labwatch-replay-checkpoint 1\ninput %zu\noffset %zu\n"
	    "path %s\n",
	    input, end, name);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		goto out;
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else
		slash[slash == dir ? 1 : 0] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "labwatch replay: checkpoint %s: %s\n", path,
		    strerror(errno));
	free(tmp);
	return rc;
}

/*
 * Read the checkpoint of a previous run of the same inputs: 0 with
 * where to start (0, 0 when there is none yet), -1 when it is unreadable
 * or names another input.
 */
static int
checkpoint_read(const char *path, const struct replay_inputs *in, size_t *input,
    size_t *end)
{
	char name[4096];
	FILE *f;
	int n;

	*input = *end = 0;
	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 0 : -1;
	n = fscanf(f,
	    "labwatch-replay-checkpoint 1\ninput %zu\noffset %zu\n"
	    "path %4095[^\n]",
	    input, end, name);
	fclose(f);
	if (n != 3 || *input > in->n)
		return -1;
	if (*input < in->n && strcmp(in->path[*input], name) != 0)
		return -1;
	return 0;
}

/* Mark seq answered (or given up) and move the checkpoint; under lock. */
static void
settle(struct replay *r, uint64_t seq, bool answered)
{
	struct slot *sl = &r->slots[seq % r->nslots];

	if (!answered && seq < r->frozen_at)
		r->frozen_at = seq;
	sl->answered = true;
	while (r->low < r->next_seq && r->slots[r->low % r->nslots].answered) {
		sl = &r->slots[r->low % r->nslots];
		if (r->low < r->frozen_at) {
			r->ck_input = sl->input;
			r->ck_end = sl->end;
			r->ck_dirty = true;
		}
		sl->answered = false;
		r->low++;
	}
	pthread_cond_signal(&r->space);
}

/* ---- the senders ---- */

/* Send one message until answered or given up; true when answered. */
static bool
send_one(struct sender *w, const struct rmsg *m)
{
	struct replay *r = w->r;
	enum mllp_ack_code code;
	enum mllp_io io;
	char *cause = NULL;
	long delay = BACKOFF_FIRST_MS;
	int attempt;

	for (attempt = 0;; attempt++) {
		io = MLLP_IO_OK;
		if (w->c.fd < 0)
			io = mllp_client_open(&w->c, &r->o->net, &cause);
		if (io == MLLP_IO_OK)
			io = mllp_client_exchange(&w->c, m->data, m->len, &code,
			    &cause);
		/* a reply without a usable MSA is no answer: resent */
		if (io == MLLP_IO_OK && code != MLLP_ACK_AR &&
		    code != MLLP_ACK_CR && code != MLLP_ACK_BAD)
			break;
		if (io != MLLP_IO_OK || code == MLLP_ACK_BAD)
			mllp_client_close(&w->c); /* a late ACK must not
						     answer the resend */
		if (attempt >= r->o->retries || quitting()) {
			pthread_mutex_lock(&r->lock);
			if (io == MLLP_IO_OK)
				r->codes[code]++;
			r->gave_up++;
			pthread_mutex_unlock(&r->lock);
			fprintf(stderr,
			    "labwatch replay: %s: offset %zu: %s after %d "
			    "tries\n",
			    r->in->path[m->input], m->end - m->len,
			    io == MLLP_IO_OK ? mllp_ack_name(code) : cause,
			    attempt + 1);
			free(cause);
			return false;
		}
		free(cause);
		cause = NULL;
		pthread_mutex_lock(&r->lock);
		r->resent++;
		pthread_mutex_unlock(&r->lock);
		sleep_ms(delay);
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
	pthread_mutex_lock(&r->lock);
	r->codes[code]++;
	if (code == MLLP_ACK_CA && !m->enhanced)
		r->ca_unasked++;
	pthread_mutex_unlock(&r->lock);
	/* CA is a commit ACK: an acceptance only when enhanced mode was asked */
	if (code == MLLP_ACK_CA && !m->enhanced)
		fprintf(stderr,
		    "labwatch replay: %s: offset %zu: CA to a message in "
		    "original mode (MSH-15/16 empty): not counted as "
		    "accepted\n",
		    r->in->path[m->input], m->end - m->len);
	else if (code != MLLP_ACK_AA && code != MLLP_ACK_CA)
		fprintf(stderr, "labwatch replay: %s: offset %zu: %s\n",
		    r->in->path[m->input], m->end - m->len,
		    mllp_ack_name(code));
	return true;
}

static void *
sender_main(void *arg)
{
	struct sender *w = arg;
	struct replay *r = w->r;
	struct rmsg *m;
	bool answered;
	int i;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (w->head == NULL && !r->feeding_done && !quitting())
			pthread_cond_wait(&w->wake, &r->lock);
		if (w->head == NULL || quitting()) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		m = w->head;
		if ((w->head = m->next) == NULL)
			w->tail = NULL;
		w->n--;
		pthread_cond_signal(&r->space);
		pthread_mutex_unlock(&r->lock);

		answered = send_one(w, m);
		pthread_mutex_lock(&r->lock);
		settle(r, m->seq, answered);
		replay_route_done(&r->route, m->b);
		r->held -= m->len;
		if (!answered) {
			/* stop the run: the others finish what is in flight */
			atomic_store(&halting, 1);
			for (i = 0; i < r->o->connections; i++)
				pthread_cond_signal(&r->s[i].wake);
			pthread_cond_broadcast(&r->space);
		}
		pthread_mutex_unlock(&r->lock);
		free(m->data);
		free(m);
	}
	return NULL;
}

/* Wait (under lock) for a queue or a slot to come free, or 0.2 s (Ctrl-C). */
static void
wait_space(struct replay *r)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 200000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&r->space, &r->lock, &until);
}

/* Queue a message on its patient's connection; false when stopping. */
static bool
enqueue(struct replay *r, const char *patient, size_t plen, size_t input,
    const struct hl7_split_item *it, bool enhanced)
{
	struct replay_binding *b;
	struct sender *w;
	struct rmsg *m;

	m = xcalloc(1, sizeof(*m));
	m->input = input;
	m->end = it->offset + it->len;
	m->enhanced = enhanced;
	m->data = xmalloc(it->len);
	memcpy(m->data, it->data, it->len);
	m->len = it->len;
	pthread_mutex_lock(&r->lock);
	/*
	 * memory stays bounded whatever the message sizes: a count, bytes;
	 * the route is chosen again after each wait (the patient's last
	 * message may have been answered meanwhile)
	 */
	for (;;) {
		w = &r->s[replay_route_pick(&r->route, patient, plen, &b)];
		if (quitting() ||
		    (w->n < QUEUE_MAX && r->next_seq - r->low < r->nslots &&
			(r->held == 0 || r->held + it->len <= QUEUE_BYTES)))
			break;
		wait_space(r);
	}
	if (quitting()) {
		pthread_mutex_unlock(&r->lock);
		free(m->data);
		free(m);
		return false;
	}
	m->seq = r->next_seq++;
	m->b = replay_route_bind(&r->route, b, (int)(w - r->s), patient, plen);
	r->slots[m->seq % r->nslots] = (struct slot){ input, m->end, false,
		m->len };
	if (w->tail != NULL)
		w->tail->next = m;
	else
		w->head = m;
	w->tail = m;
	w->n++;
	r->held += it->len;
	r->sent++;
	r->bytes += it->len;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&r->lock);
	return true;
}

/* ---- --direct: the store instead of the senders ---- */

/* Hand a message to the store; false when stopping. */
static bool
enqueue_direct(struct replay *r, size_t input, const struct hl7_split_item *it)
{
	uint64_t seq;

	pthread_mutex_lock(&r->lock);
	while (!quitting() &&
	    (r->next_seq - r->low >= r->nslots ||
		(r->inflight_bytes > 0 &&
		    r->inflight_bytes + it->len > DIRECT_BYTES)))
		wait_space(r);
	if (quitting()) {
		pthread_mutex_unlock(&r->lock);
		return false;
	}
	seq = r->next_seq++;
	r->slots[seq % r->nslots] = (struct slot){ input, it->offset + it->len,
		false, it->len };
	r->inflight_bytes += it->len;
	r->sent++;
	r->bytes += it->len;
	pthread_mutex_unlock(&r->lock);
	replay_direct_submit(r->d, seq, it->data, it->len);
	return true;
}

/*
 * What became of a message the store gave back; under lock. Stored,
 * duplicate or ignored: accepted. Quarantined: answered (AE; sending it
 * again would not help). Spooled (the database went away) or rejected:
 * not stored, so the run stops and the checkpoint stays before it.
 */
static void
direct_done(struct replay *r, const struct store_item *it)
{
	const struct slot *sl = &r->slots[it->conn_gen % r->nslots];
	bool stored = it->outcome != STORE_SPOOLED &&
	    it->outcome != STORE_REJECTED;

	r->outcomes[it->outcome]++;
	r->inflight_bytes -= sl->len;
	if (it->outcome == STORE_QUARANTINED || !stored)
		fprintf(stderr, "labwatch replay: %s: offset %zu: %s%s%s\n",
		    r->in->path[sl->input], sl->end - sl->len,
		    it->outcome == STORE_SPOOLED ?
			"not stored: the database went away" :
			store_outcome_name(it->outcome),
		    it->reason != NULL ? ": " : "",
		    it->reason != NULL ? it->reason : "");
	if (!stored) {
		r->gave_up++;
		atomic_store(&halting, 1);
	}
	settle(r, it->conn_gen, stored);
}

/* Take what the store gives back until every message handed over is. */
static void *
direct_main(void *arg)
{
	struct replay *r = arg;
	struct store_item *it, *next;
	struct pollfd pfd = { replay_direct_fd(r->d), POLLIN, 0 };
	bool all;

	for (;;) {
		(void)poll(&pfd, 1, 200);
		it = replay_direct_take(r->d);
		pthread_mutex_lock(&r->lock);
		for (; it != NULL; it = next) {
			next = it->next;
			direct_done(r, it);
			store_item_free(it);
		}
		all = r->feeding_done && r->low == r->next_seq;
		pthread_mutex_unlock(&r->lock);
		if (all)
			break;
	}
	return NULL;
}

/* ---- the feeder ---- */

/* Report a message that cannot be sent; false when the run must stop. */
static bool
broken(struct replay *r, size_t input, size_t offset, const char *reason)
{
	if (offset == SIZE_MAX) /* reason names the offset, if any */
		fprintf(stderr, "labwatch replay: %s: %s\n", r->in->path[input],
		    reason);
	else
		fprintf(stderr, "labwatch replay: %s: offset %zu: %s\n",
		    r->in->path[input], offset, reason);
	pthread_mutex_lock(&r->lock);
	r->broken++;
	pthread_mutex_unlock(&r->lock);
	return !r->o->stop_on_error;
}

/* Wait until the rate allows message n (counted from the start). */
static void
pace(struct replay *r, uint64_t n)
{
	double ahead;

	if (r->o->rate <= 0)
		return;
	ahead = (double)n / r->o->rate - elapsed_s(&r->start);
	if (ahead > 0.001)
		sleep_ms((long)(ahead * 1000));
}

/* Queue the messages of one input from byte skip on; false to stop. */
static bool
feed_input(struct replay *r, size_t input, size_t skip, struct hl7_msg *m,
    struct oru_msg *o, uint64_t *n)
{
	struct hl7_parse_opts popts = { NULL };
	struct oru_opts oopts = { r->o->id_type };
	struct cli_in ri;
	struct hl7_split_item it;
	const char *pid, *ca;
	size_t plen;
	char *cause = NULL;
	bool go = true;
	int rc = 0;

	if (cli_in_open(&ri, r->in->path[input], r->o->max_size, &cause) != 0) {
		go = broken(r, input, SIZE_MAX, cause);
		free(cause);
		return go;
	}
	while (go && !quitting() && (rc = cli_in_next(&ri, &it, &cause)) == 1) {
		if (it.offset < skip)
			continue;
		if (it.is_error) {
			go = broken(r, input, it.offset, it.reason);
			continue;
		}
		if (hl7_parse(m, it.data, it.len, &popts) != 0) {
			go = broken(r, input, it.offset + m->err.offset,
			    m->err.reason);
			continue;
		}
		/* NE, ER: labwatchd answers an accepted message with nothing */
		if ((ca = hl7_ack_sent_code(m, HL7_ACK_ACCEPT)) == NULL) {
			go = broken(r, input, it.offset,
			    "MSH-15 asks for no accept ACK: replay could not "
			    "know the message stored; not sent");
			continue;
		}
		/* labwatchd's patient: the chosen PID-3 of the first PID */
		pid = "";
		plen = 0;
		if (r->d == NULL && oru_extract(o, m, &oopts) == 0 &&
		    o->npatients > 0) {
			pid = o->patients[0].id.p;
			plen = o->patients[0].id.len;
		}
		pace(r, (*n)++);
		/* --direct: the store keeps each patient's order */
		go = r->d != NULL ?
		    enqueue_direct(r, input, &it) :
		    enqueue(r, pid, plen, input, &it, ca[0] == 'C');
		pthread_mutex_lock(&r->lock);
		r->done_frac = cli_in_done(&ri);
		pthread_mutex_unlock(&r->lock);
	}
	/* a read error (a truncated gzip) after the messages before it */
	if (go && !quitting() && rc < 0)
		go = broken(r, input, SIZE_MAX, cause);
	free(cause);
	cli_in_close(&ri);
	return go;
}

/* Queue every input from (from, skip) on; true when all were read. */
static bool
feed(struct replay *r, size_t from, size_t skip)
{
	struct hl7_msg m;
	struct oru_msg o;
	uint64_t n = 0;
	size_t i;
	bool go = true;

	hl7_msg_init(&m);
	oru_msg_init(&o);
	for (i = from; go && i < r->in->n && !quitting(); i++) {
		pthread_mutex_lock(&r->lock);
		r->cur_input = i;
		r->done_frac = 0;
		pthread_mutex_unlock(&r->lock);
		go = feed_input(r, i, i == from ? skip : 0, &m, &o, &n);
	}
	oru_msg_free(&o);
	hl7_msg_free(&m);
	return go && !quitting();
}

/* ---- progress, checkpoint and summary ---- */

static void
progress_line(struct replay *r, bool final)
{
	double t = elapsed_s(&r->start), frac;
	uint64_t done;
	char eta[32] = "";

	done = r->codes[MLLP_ACK_AA] + r->codes[MLLP_ACK_CA] - r->ca_unasked;
	frac = r->in->n ?
	    ((double)r->cur_input + r->done_frac) / (double)r->in->n :
	    1;
	if (frac > 0.01 && frac < 1 && !final)
		snprintf(eta, sizeof(eta), ", ETA %.0fs", t / frac - t);
	if (r->o->direct != NULL) {
		fprintf(stderr,
		    "%sreplay: %llu read, %.1f MiB, %.0f msg/s, stored %llu, "
		    "duplicate %llu, quarantined %llu%s%s",
		    r->o->tty ? "\r\033[K" : "", (unsigned long long)r->sent,
		    (double)r->bytes / 1048576, t > 0 ? (double)r->sent / t : 0,
		    (unsigned long long)(r->outcomes[STORE_PROCESSED] +
			r->outcomes[STORE_IGNORED]),
		    (unsigned long long)r->outcomes[STORE_DUPLICATE],
		    (unsigned long long)r->outcomes[STORE_QUARANTINED], eta,
		    r->o->tty ? "" : "\n");
		return;
	}
	fprintf(stderr,
	    "%sreplay: %llu sent, %.1f MiB, %.0f msg/s, accepted %llu, "
	    "AE %llu, AR %llu%s%s",
	    r->o->tty ? "\r\033[K" : "", (unsigned long long)r->sent,
	    (double)r->bytes / 1048576, t > 0 ? (double)r->sent / t : 0,
	    (unsigned long long)done,
	    (unsigned long long)(r->codes[MLLP_ACK_AE] + r->codes[MLLP_ACK_CE]),
	    (unsigned long long)(r->codes[MLLP_ACK_AR] + r->codes[MLLP_ACK_CR]),
	    eta, r->o->tty ? "" : "\n");
}

/* Write the checkpoint if it moved; under lock. */
static void
checkpoint_flush(struct replay *r)
{
	size_t input = r->ck_input, end = r->ck_end;

	if (r->o->resume == NULL || !r->ck_dirty)
		return;
	r->ck_dirty = false;
	pthread_mutex_unlock(&r->lock);
	(void)checkpoint_write(r->o->resume, input, end,
	    input < r->in->n ? r->in->path[input] : "-");
	pthread_mutex_lock(&r->lock);
}

static void *
progress_main(void *arg)
{
	struct replay *r = arg;
	struct timespec until;
	double next_line = r->o->progress_every_ms / 1000.0;

	pthread_mutex_lock(&r->lock);
	while (!r->stop_progress) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->progress_wake, &r->lock, &until);
		checkpoint_flush(r);
		if (elapsed_s(&r->start) >= next_line) {
			progress_line(r, false);
			next_line += r->o->progress_every_ms / 1000.0;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* --direct: the line by outcome; the exit status. */
static enum replay_status
summary_direct(struct replay *r)
{
	const uint64_t *n = r->outcomes;

	fprintf(stderr,
	    "replay: %llu messages read in %.1fs: stored %llu, duplicate "
	    "%llu, ignored %llu, quarantined %llu; not stored %llu, broken "
	    "input %llu%s\n",
	    (unsigned long long)r->sent, elapsed_s(&r->start),
	    (unsigned long long)n[STORE_PROCESSED],
	    (unsigned long long)n[STORE_DUPLICATE],
	    (unsigned long long)n[STORE_IGNORED],
	    (unsigned long long)n[STORE_QUARANTINED],
	    (unsigned long long)r->gave_up, (unsigned long long)r->broken,
	    atomic_load(&stopping) ? " (interrupted)" :
		atomic_load(&halting) ?
				     " (stopped: the database went away; run "
				     "again with --resume)" :
				     "");
	if (r->gave_up > 0)
		return REPLAY_CONNECTION;
	return r->broken + n[STORE_QUARANTINED] > 0 || atomic_load(&stopping) ?
	    REPLAY_REFUSED :
	    REPLAY_OK;
}

static enum replay_status
summary(struct replay *r)
{
	uint64_t bad = r->broken + r->gave_up;
	int k;

	if (r->o->tty)
		fputc('\n', stderr);
	progress_line(r, true);
	if (r->o->tty)
		fputc('\n', stderr);
	if (r->o->direct != NULL)
		return summary_direct(r);
	fprintf(stderr,
	    "replay: %llu messages sent in %.1fs:", (unsigned long long)r->sent,
	    elapsed_s(&r->start));
	for (k = 0; k < MLLP_ACK_NCODES; k++)
		if (r->codes[k] > 0)
			fprintf(stderr, " %s %llu", mllp_ack_name(k),
			    (unsigned long long)r->codes[k]);
	if (r->ca_unasked > 0)
		fprintf(stderr, " (CA to original mode %llu)",
		    (unsigned long long)r->ca_unasked);
	fprintf(stderr, "; resent %llu, given up %llu, broken input %llu%s\n",
	    (unsigned long long)r->resent, (unsigned long long)r->gave_up,
	    (unsigned long long)r->broken,
	    atomic_load(&stopping)    ? " (interrupted)" :
		atomic_load(&halting) ? " (stopped: a message was given up)" :
					"");
	for (k = 0; k < MLLP_ACK_NCODES; k++)
		if (k != MLLP_ACK_AA && k != MLLP_ACK_CA)
			bad += r->codes[k];
	bad += r->ca_unasked;
	if (r->gave_up > 0)
		return REPLAY_CONNECTION;
	return bad > 0 || atomic_load(&stopping) ? REPLAY_REFUSED : REPLAY_OK;
}

/* Open every connection before sending anything: a wrong port is exit 2. */
static bool
senders_open(struct replay *r)
{
	char *cause;
	int i;

	for (i = 0; i < r->o->connections; i++) {
		r->s[i].r = r;
		r->s[i].idx = i;
		mllp_client_init(&r->s[i].c);
		pthread_cond_init(&r->s[i].wake, NULL);
	}
	for (i = 0; i < r->o->connections; i++) {
		if (mllp_client_open(&r->s[i].c, &r->o->net, &cause) !=
		    MLLP_IO_OK) {
			fprintf(stderr, "labwatch replay: %s\n", cause);
			free(cause);
			return false;
		}
	}
	return true;
}

static void
signals_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: waits see EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* --direct: start the store with Ctrl-C for the main thread only. */
static bool
direct_open(struct replay *r)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	r->d = replay_direct_open(r->o->direct);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r->d != NULL;
}

enum replay_status
replay_run(const struct replay_opts *o, const struct replay_inputs *in)
{
	struct replay r;
	pthread_t progress, direct;
	enum replay_status st = REPLAY_CONNECTION;
	size_t from = 0, skip = 0;
	struct rmsg *m;
	bool complete;
	int i, nconn = o->direct != NULL ? 0 : o->connections;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.in = in;
	if (o->resume != NULL &&
	    checkpoint_read(o->resume, in, &from, &skip) != 0) {
		fprintf(stderr,
		    "labwatch replay: %s: not a checkpoint of these inputs\n",
		    o->resume);
		return REPLAY_CONNECTION;
	}
	atomic_store(&halting, 0);
	r.frozen_at = UINT64_MAX;
	r.ck_input = from;
	r.ck_end = skip;
	/*
	 * 4 times what the queues and connections hold: with every queue
	 * kept level the oldest unanswered message is never that far back
	 * (the feeder waited 0 s on it over 100,000 messages at 16
	 * connections, bench/run-replay, before and after the balancing)
	 */
	r.nslots = nconn > 0 ? (size_t)nconn * (QUEUE_MAX + 1) * 4 :
			       DIRECT_SLOTS;
	r.slots = xcalloc(r.nslots, sizeof(*r.slots));
	r.s = xcalloc((size_t)nconn + 1, sizeof(*r.s));
	replay_route_init(&r.route, nconn);
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.space, NULL);
	pthread_cond_init(&r.progress_wake, NULL);
	clock_gettime(CLOCK_MONOTONIC, &r.start);
	if (o->direct != NULL ? !direct_open(&r) : !senders_open(&r))
		goto out;
	signals_catch();
	for (i = 0; i < nconn; i++)
		if (pthread_create(&r.s[i].tid, NULL, sender_main, &r.s[i]))
			abort();
	if (r.d != NULL && pthread_create(&direct, NULL, direct_main, &r) != 0)
		abort();
	if (pthread_create(&progress, NULL, progress_main, &r) != 0)
		abort();
	complete = feed(&r, from, skip);

	pthread_mutex_lock(&r.lock);
	r.feeding_done = true;
	for (i = 0; i < nconn; i++)
		pthread_cond_signal(&r.s[i].wake);
	pthread_mutex_unlock(&r.lock);
	for (i = 0; i < nconn; i++)
		pthread_join(r.s[i].tid, NULL);
	if (r.d != NULL)
		pthread_join(direct, NULL);
	pthread_mutex_lock(&r.lock);
	r.stop_progress = true;
	pthread_cond_signal(&r.progress_wake);
	pthread_mutex_unlock(&r.lock);
	pthread_join(progress, NULL);

	if (complete && r.frozen_at == UINT64_MAX && !quitting() &&
	    r.low == r.next_seq) {
		r.ck_input = in->n; /* all done: a resume sends nothing */
		r.ck_end = 0;
		r.ck_dirty = true;
	}
	pthread_mutex_lock(&r.lock);
	checkpoint_flush(&r);
	pthread_mutex_unlock(&r.lock);
	replay_direct_close(r.d);
	r.d = NULL;
	st = summary(&r);
out:
	for (i = 0; i < nconn; i++) {
		while ((m = r.s[i].head) != NULL) { /* left by Ctrl-C */
			r.s[i].head = m->next;
			free(m->data);
			free(m);
		}
		mllp_client_close(&r.s[i].c);
		pthread_cond_destroy(&r.s[i].wake);
	}
	replay_route_free(&r.route); /* and the bindings left by Ctrl-C */
	free(r.s);
	free(r.slots);
	return st;
}
