/* dred-rtc: the C floor for `make bench`.
 *
 * Times, against the same libopus build the Python binding loads, the per-20 ms-frame cost of
 * the operations a dred-rtc call performs, on real speech, in the exact call sequence that
 * dred_rtc/bench.py replays through the binding:
 *
 *   encode_plain   32 kb/s-ish VOIP, complexity 10, no expected loss, no DRED, no FEC
 *   encode_dred    same, expected loss LOSS %, DRED DRED_MS  (emits DRED; see docs/facts.md)
 *   encode_fec     same, expected loss LOSS %, in-band FEC on, no DRED (the LBRR stream)
 *   decode         normal decode of the DRED stream (decoder complexity 5: deep PLC on)
 *   decode_lbrr    decode_fec=1 from packet k+1 for every 3rd frame whose next packet has LBRR
 *   plc_deep_*     deep PLC (complexity 5) in bursts of BURST frames every PERIOD frames:
 *                  first concealed frame of a burst, and the following ones
 *   plc_classic_*  the same bursts with classic PLC (complexity 0)
 *   dred_parse     opus_dred_parse(defer=1) + opus_dred_process of the packet after a burst
 *   dred_decode_*  opus_decoder_dred_decode of the burst's frames, oldest first
 *
 * Each call is timed alone, in CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID, the
 * clock Python's time.thread_time_ns reads), so other processes on a busy machine do not count;
 * a figure is the mean microseconds per call of each repetition (and the median over them).
 * Output: one JSON object on stdout.
 *
 * usage: bench_opus PCM_FILE REPS BITRATE LOSS_PERC DRED_MS BURST PERIOD [OUT_DIR]
 *   PCM_FILE: raw 48 kHz mono int16 (native endian), whole 20 ms frames are used.
 *   OUT_DIR:  if given, the first repetition's packets (plain.bin, dred.bin, fec.bin: each packet
 *             as a 4-byte little-endian length then its bytes) and every decoder's output, in
 *             call order (pcm.raw, int16), are written there so bench.py can check that the
 *             binding produced exactly the same bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <opus.h>

#define RATE 48000
#define FRAME 960
#define MAX_PACKET 4000
#define MAX_OUT 5760
#define MAX_REPS 64
#define BURST_START 4

enum {
  OP_ENCODE_PLAIN, OP_ENCODE_DRED, OP_ENCODE_FEC, OP_DECODE, OP_DECODE_LBRR,
  OP_PLC_DEEP_FIRST, OP_PLC_DEEP_NEXT, OP_PLC_CLASSIC_FIRST, OP_PLC_CLASSIC_NEXT,
  OP_DRED_PARSE, OP_DRED_DECODE_FIRST, OP_DRED_DECODE_NEXT, N_OPS
};
static const char *OP_NAMES[N_OPS] = {
  "encode_plain", "encode_dred", "encode_fec", "decode", "decode_lbrr",
  "plc_deep_first", "plc_deep_next", "plc_classic_first", "plc_classic_next",
  "dred_parse", "dred_decode_first", "dred_decode_next",
};

typedef struct { double ns; long calls; } Acc;

typedef struct {
  unsigned char *data; /* n slots of MAX_PACKET bytes */
  int *len;
  int n;
} Stream;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what, int code) {
  fprintf(stderr, "bench_opus: %s failed: %s (%d)\n", what, code < 0 ? opus_strerror(code) : "", code);
  exit(1);
}

static unsigned char *pkt(const Stream *s, int k) { return s->data + (size_t)k * MAX_PACKET; }

/* Decoded PCM of the first repetition, in call order (NULL: not recorded). */
static FILE *pcm_out = NULL;
static void record(const opus_int16 *pcm, int n) {
  if (pcm_out && fwrite(pcm, sizeof(opus_int16), (size_t)n, pcm_out) != (size_t)n) {
    fprintf(stderr, "bench_opus: write failed\n");
    exit(1);
  }
}

static void write_stream(const char *dir, const char *name, const Stream *s) {
  char path[4096];
  FILE *f;
  int k;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "wb");
  if (!f) { perror(path); exit(1); }
  for (k = 0; k < s->n; k++) {
    unsigned char len[4];
    unsigned v = (unsigned)s->len[k];
    len[0] = v & 255; len[1] = (v >> 8) & 255; len[2] = (v >> 16) & 255; len[3] = v >> 24;
    if (fwrite(len, 1, 4, f) != 4 || fwrite(pkt(s, k), 1, (size_t)s->len[k], f) != (size_t)s->len[k]) {
      fprintf(stderr, "bench_opus: write failed\n");
      exit(1);
    }
  }
  fclose(f);
}

static void stream_alloc(Stream *s, int n) {
  s->data = malloc((size_t)n * MAX_PACKET);
  s->len = malloc(sizeof(int) * (size_t)n);
  s->n = n;
  if (!s->data || !s->len) { fprintf(stderr, "bench_opus: out of memory\n"); exit(1); }
}

static OpusEncoder *make_encoder(int bitrate, int loss, int dred_units, int fec) {
  int err = 0;
  OpusEncoder *enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_VOIP, &err);
  if (err != OPUS_OK) die("opus_encoder_create", err);
  /* same ctl order as dred_rtc.opus.Encoder.__init__ */
  if ((err = opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE))) != OPUS_OK) die("SET_SIGNAL", err);
  if ((err = opus_encoder_ctl(enc, OPUS_SET_BITRATE(bitrate))) != OPUS_OK) die("SET_BITRATE", err);
  if ((err = opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(10))) != OPUS_OK) die("SET_COMPLEXITY", err);
  if ((err = opus_encoder_ctl(enc, OPUS_SET_VBR(1))) != OPUS_OK) die("SET_VBR", err);
  if ((err = opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(fec))) != OPUS_OK) die("SET_INBAND_FEC", err);
  if ((err = opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(loss))) != OPUS_OK) die("SET_PACKET_LOSS_PERC", err);
  if ((err = opus_encoder_ctl(enc, OPUS_SET_DRED_DURATION(dred_units))) != OPUS_OK) die("SET_DRED_DURATION", err);
  if ((err = opus_encoder_ctl(enc, OPUS_SET_DTX(0))) != OPUS_OK) die("SET_DTX", err);
  return enc;
}

static OpusDecoder *make_decoder(int complexity) {
  int err = 0;
  OpusDecoder *dec = opus_decoder_create(RATE, 1, &err);
  if (err != OPUS_OK) die("opus_decoder_create", err);
  if ((err = opus_decoder_ctl(dec, OPUS_SET_COMPLEXITY(complexity))) != OPUS_OK) die("SET_COMPLEXITY", err);
  return dec;
}

static void encode_all(OpusEncoder *enc, const opus_int16 *pcm, Stream *out, Acc *acc) {
  int k;
  for (k = 0; k < out->n; k++) {
    double t0 = now_ns();
    int n = opus_encode(enc, pcm + (size_t)k * FRAME, FRAME, pkt(out, k), MAX_PACKET);
    acc->ns += now_ns() - t0;
    acc->calls++;
    if (n < 0) die("opus_encode", n);
    out->len[k] = n;
  }
}

static int in_burst(int k, int period, int burst) {
  int phase = k % period;
  return phase >= BURST_START && phase < BURST_START + burst;
}

/* Every PERIOD frames, BURST frames are lost and concealed (first / next timed apart). */
static void run_plc(const Stream *s, int complexity, int period, int burst, Acc *first, Acc *next) {
  OpusDecoder *dec = make_decoder(complexity);
  static opus_int16 out[MAX_OUT];
  int k, n;
  for (k = 0; k < s->n; k++) {
    if (in_burst(k, period, burst)) {
      Acc *acc = (k % period == BURST_START) ? first : next;
      double t0 = now_ns();
      n = opus_decode(dec, NULL, 0, out, FRAME, 0);
      acc->ns += now_ns() - t0;
      acc->calls++;
      if (n < 0) die("opus_decode(PLC)", n);
    } else {
      n = opus_decode(dec, pkt(s, k), s->len[k], out, MAX_OUT, 0);
      if (n < 0) die("opus_decode", n);
    }
    record(out, n);
  }
  opus_decoder_destroy(dec);
}

int main(int argc, char **argv) {
  FILE *f;
  long bytes;
  opus_int16 *pcm;
  int frames, reps, bitrate, loss, dred_ms, burst, period, rep, op, k, j;
  double means[N_OPS][MAX_REPS];
  long calls[N_OPS];
  const char *out_dir = argc == 9 ? argv[8] : NULL;
  long bytes_plain = 0, bytes_dred = 0, bytes_fec = 0;
  int dred_packets = 0, lbrr_packets = 0, bursts_total = 0, bursts_covered = 0;
  Stream plain, dred, fecs;
  static opus_int16 out[MAX_OUT];

  if (argc != 8 && argc != 9) {
    fprintf(stderr, "usage: %s PCM_FILE REPS BITRATE LOSS_PERC DRED_MS BURST PERIOD [OUT_DIR]\n", argv[0]);
    return 2;
  }
  reps = atoi(argv[2]); bitrate = atoi(argv[3]); loss = atoi(argv[4]); dred_ms = atoi(argv[5]);
  burst = atoi(argv[6]); period = atoi(argv[7]);
  if (reps < 1 || reps > MAX_REPS || burst < 1 || period < BURST_START + burst + 1) {
    fprintf(stderr, "bench_opus: bad arguments\n");
    return 2;
  }
  f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  fseek(f, 0, SEEK_END);
  bytes = ftell(f);
  fseek(f, 0, SEEK_SET);
  frames = (int)(bytes / (long)sizeof(opus_int16) / FRAME);
  if (frames < period + 1) { fprintf(stderr, "bench_opus: %d frames of PCM is too short\n", frames); return 1; }
  pcm = malloc((size_t)frames * FRAME * sizeof(opus_int16));
  if (!pcm || fread(pcm, sizeof(opus_int16), (size_t)frames * FRAME, f) != (size_t)frames * FRAME) {
    fprintf(stderr, "bench_opus: cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(f);
  stream_alloc(&plain, frames); stream_alloc(&dred, frames); stream_alloc(&fecs, frames);
  memset(calls, 0, sizeof(calls));

  for (rep = 0; rep < reps; rep++) {
    Acc acc[N_OPS];
    OpusEncoder *enc;
    OpusDecoder *dec;
    OpusDREDDecoder *dred_dec;
    OpusDRED *dred_state;
    int err = 0, dred_end = 0;
    memset(acc, 0, sizeof(acc));
    if (rep == 0 && out_dir) {
      char path[4096];
      snprintf(path, sizeof(path), "%s/pcm.raw", out_dir);
      pcm_out = fopen(path, "wb");
      if (!pcm_out) { perror(path); return 1; }
    }

    /* Encoders: fresh per repetition, so every repetition produces the same packets. */
    enc = make_encoder(bitrate, 0, 0, 0); encode_all(enc, pcm, &plain, &acc[OP_ENCODE_PLAIN]); opus_encoder_destroy(enc);
    enc = make_encoder(bitrate, loss, dred_ms / 10, 0); encode_all(enc, pcm, &dred, &acc[OP_ENCODE_DRED]); opus_encoder_destroy(enc);
    enc = make_encoder(bitrate, loss, 0, 1); encode_all(enc, pcm, &fecs, &acc[OP_ENCODE_FEC]); opus_encoder_destroy(enc);

    /* Normal decode of every packet of the DRED stream. */
    dec = make_decoder(5);
    for (k = 0; k < frames; k++) {
      double t0 = now_ns();
      int n = opus_decode(dec, pkt(&dred, k), dred.len[k], out, MAX_OUT, 0);
      acc[OP_DECODE].ns += now_ns() - t0;
      acc[OP_DECODE].calls++;
      if (n < 0) die("opus_decode", n);
      record(out, n);
    }
    opus_decoder_destroy(dec);

    /* LBRR: every 3rd frame is lost when the next packet carries LBRR, rebuilt from it. */
    dec = make_decoder(5);
    for (k = 0; k < frames; k++) {
      int n;
      if (k % 3 == 1 && k + 1 < frames && opus_packet_has_lbrr(pkt(&fecs, k + 1), fecs.len[k + 1]) > 0) {
        double t0 = now_ns();
        n = opus_decode(dec, pkt(&fecs, k + 1), fecs.len[k + 1], out, FRAME, 1);
        acc[OP_DECODE_LBRR].ns += now_ns() - t0;
        acc[OP_DECODE_LBRR].calls++;
        if (n < 0) die("opus_decode(fec)", n);
      } else {
        n = opus_decode(dec, pkt(&fecs, k), fecs.len[k], out, MAX_OUT, 0);
        if (n < 0) die("opus_decode", n);
      }
      record(out, n);
    }
    opus_decoder_destroy(dec);

    run_plc(&dred, 5, period, burst, &acc[OP_PLC_DEEP_FIRST], &acc[OP_PLC_DEEP_NEXT]);
    run_plc(&dred, 0, period, burst, &acc[OP_PLC_CLASSIC_FIRST], &acc[OP_PLC_CLASSIC_NEXT]);

    /* DRED: the same bursts, rebuilt from the first packet after each burst. */
    dec = make_decoder(5);
    dred_dec = opus_dred_decoder_create(&err);
    if (err != OPUS_OK) die("opus_dred_decoder_create", err);
    dred_state = opus_dred_alloc(&err);
    if (err != OPUS_OK) die("opus_dred_alloc", err);
    for (k = 0; k < frames; k++) {
      int n;
      if (k % period == BURST_START && k + burst < frames) {
        int after = k + burst, reach;
        double t0 = now_ns();
        reach = opus_dred_parse(dred_dec, dred_state, pkt(&dred, after), dred.len[after],
                                dred_ms * (RATE / 1000), RATE, &dred_end, 1);
        if (reach > 0) {
          int e = opus_dred_process(dred_dec, dred_state, dred_state);
          if (e < 0) die("opus_dred_process", e);
        }
        acc[OP_DRED_PARSE].ns += now_ns() - t0;
        acc[OP_DRED_PARSE].calls++;
        if (reach < 0) die("opus_dred_parse", reach);
        if (rep == 0) { bursts_total++; if (reach >= burst * FRAME) bursts_covered++; }
        for (j = 0; j < burst; j++) {
          Acc *a = j == 0 ? &acc[OP_DRED_DECODE_FIRST] : &acc[OP_DRED_DECODE_NEXT];
          t0 = now_ns();
          n = opus_decoder_dred_decode(dec, dred_state, (burst - j) * FRAME, out, FRAME);
          a->ns += now_ns() - t0;
          a->calls++;
          if (n < 0) die("opus_decoder_dred_decode", n);
          record(out, n);
        }
        k += burst - 1; /* the burst's frames are played; next: the packet after it */
        continue;
      }
      n = opus_decode(dec, pkt(&dred, k), dred.len[k], out, MAX_OUT, 0);
      if (n < 0) die("opus_decode", n);
      record(out, n);
    }
    opus_dred_free(dred_state);
    opus_dred_decoder_destroy(dred_dec);
    opus_decoder_destroy(dec);
    if (pcm_out) {
      fclose(pcm_out);
      pcm_out = NULL;
      write_stream(out_dir, "plain.bin", &plain);
      write_stream(out_dir, "dred.bin", &dred);
      write_stream(out_dir, "fec.bin", &fecs);
    }

    for (op = 0; op < N_OPS; op++) {
      means[op][rep] = acc[op].calls ? acc[op].ns / acc[op].calls / 1000.0 : 0.0;
      if (rep == 0) calls[op] = acc[op].calls;
    }
  }

  /* Stream fingerprints and what the streams carry (from the last repetition: all are equal). */
  {
    OpusDREDDecoder *dd;
    OpusDRED *ds;
    int err = 0, end = 0;
    dd = opus_dred_decoder_create(&err);
    ds = opus_dred_alloc(&err);
    for (k = 0; k < frames; k++) {
      bytes_plain += plain.len[k];
      bytes_dred += dred.len[k];
      bytes_fec += fecs.len[k];
      if (opus_dred_parse(dd, ds, pkt(&dred, k), dred.len[k], dred_ms * (RATE / 1000), RATE, &end, 1) > 0)
        dred_packets++;
      if (opus_packet_has_lbrr(pkt(&fecs, k), fecs.len[k]) > 0) lbrr_packets++;
    }
    opus_dred_free(ds);
    opus_dred_decoder_destroy(dd);
  }

  printf("{\n  \"libopus\": \"%s\",\n  \"frames\": %d,\n  \"reps\": %d,\n", opus_get_version_string(), frames, reps);
  printf("  \"settings\": {\"bitrate\": %d, \"loss_perc\": %d, \"dred_ms\": %d, \"burst\": %d, \"period\": %d},\n",
         bitrate, loss, dred_ms, burst, period);
  printf("  \"ops\": {\n");
  for (op = 0; op < N_OPS; op++) {
    /* median of the per-repetition means (insertion sort: reps is small) */
    double v[MAX_REPS], med;
    int a, b;
    for (a = 0; a < reps; a++) v[a] = means[op][a];
    for (a = 1; a < reps; a++) for (b = a; b > 0 && v[b - 1] > v[b]; b--) { double t = v[b]; v[b] = v[b - 1]; v[b - 1] = t; }
    med = reps % 2 ? v[reps / 2] : 0.5 * (v[reps / 2 - 1] + v[reps / 2]);
    printf("    \"%s\": {\"us\": %.3f, \"calls\": %ld, \"reps_us\": [", OP_NAMES[op], med, calls[op]);
    for (a = 0; a < reps; a++) printf("%s%.3f", a ? ", " : "", means[op][a]);
    printf("]}%s\n", op + 1 < N_OPS ? "," : "");
  }
  printf("  },\n");
  printf("  \"streams\": {\n");
  printf("    \"plain\": {\"bytes\": %ld},\n", bytes_plain);
  printf("    \"dred\": {\"bytes\": %ld, \"packets_with_dred\": %d},\n", bytes_dred, dred_packets);
  printf("    \"fec\": {\"bytes\": %ld, \"packets_with_lbrr\": %d}\n", bytes_fec, lbrr_packets);
  printf("  },\n");
  printf("  \"bursts\": {\"total\": %d, \"covered_by_dred\": %d}\n}\n", bursts_total, bursts_covered);
  free(pcm);
  return 0;
}
