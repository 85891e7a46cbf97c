/* The load generator's entry point: parses the options and runs one scenario
 * (fanout, connections, webhook, flows, token) against a server on loopback,
 * printing its result as one JSON line on stdout and progress on stderr. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: loadgen fanout|channel|connections|webhook|flows|flows_blocks|token [options]\n"
          "  --host H --port N      the server (127.0.0.1)\n"
          "  --label L              names this run (also makes e-mails unique)\n"
          "fanout:      --users N --group S --rates r1,r2,.. --seconds D --warmup W [--socketio] "
          "[--storm]\n"
          "             (--socketio: the sessions speak Socket.io 4, "
          "bench/reference/server-socketio.js)\n"
          "channel:     --users N (members) --sessions C (connected) --rates r1,.. --seconds D\n"
          "connections: --sessions n1,n2,.. --pid P (server pid, for VmRSS)\n"
          "webhook, flows, flows_blocks: --events N --conns C --contacts K --secret S "
          "[--graph-port G]\n"
          "token:       --users N --group G (user 0 creates G groups with the others)\n");
}

static int parse(int argc, char **argv, lg_opts_t *o) {
  static const struct option longopts[] = {
      {"host", 1, 0, 'h'},     {"port", 1, 0, 'p'},       {"users", 1, 0, 'u'},
      {"group", 1, 0, 'g'},    {"rates", 1, 0, 'r'},      {"seconds", 1, 0, 's'},
      {"warmup", 1, 0, 'w'},   {"sessions", 1, 0, 'S'},   {"pid", 1, 0, 'P'},
      {"events", 1, 0, 'e'},   {"conns", 1, 0, 'c'},      {"contacts", 1, 0, 'k'},
      {"secret", 1, 0, 'x'},   {"graph-port", 1, 0, 'G'}, {"label", 1, 0, 'l'},
      {"socketio", 0, 0, 'I'}, {"storm", 0, 0, 'T'},      {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
      case 'h':
        o->host = optarg;
        break;
      case 'p':
        o->port = atoi(optarg);
        break;
      case 'u':
        o->users = atoi(optarg);
        break;
      case 'g':
        o->group = atoi(optarg);
        break;
      case 'r':
        o->rates = optarg;
        break;
      case 's':
        o->seconds = atof(optarg);
        break;
      case 'w':
        o->warmup_s = atoi(optarg);
        break;
      case 'S':
        o->sessions = optarg;
        break;
      case 'P':
        o->pid = atoi(optarg);
        break;
      case 'e':
        o->events = atoi(optarg);
        break;
      case 'c':
        o->conns = atoi(optarg);
        break;
      case 'k':
        o->contacts = atoi(optarg);
        break;
      case 'x':
        o->secret = optarg;
        break;
      case 'G':
        o->graph_port = atoi(optarg);
        break;
      case 'l':
        o->label = optarg;
        break;
      case 'I':
        o->socketio = 1;
        break;
      case 'T':
        o->storm = 1;
        break;
      default:
        return -1;
    }
  }
  return o->port > 0 && o->users > 0 && o->group > 0 && o->contacts > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *scenario = argv[1];
  lg_opts_t o = {.host = "127.0.0.1",
                 .users = 1000,
                 .group = 10,
                 .rates = "500,1000,2000",
                 .seconds = 5,
                 .warmup_s = 1,
                 .sessions = "10000",
                 .events = 10000,
                 .conns = 64,
                 .contacts = 100,
                 .secret = "bench-app-secret",
                 .label = "bench"};
  if (parse(argc - 1, argv + 1, &o) != 0) {
    usage(stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  lg_t *lg = calloc(1, sizeof(*lg)); /* 256 KiB read buffer: not on the stack */
  if (!lg) return 1;
  uv_loop_t loop;
  uv_loop_init(&loop);
  lg->loop = &loop;
  snprintf(lg->host, sizeof(lg->host), "%s", o.host);
  lg->port = o.port;
  lg->socketio = o.socketio;
  if (uv_ip4_addr(o.host, o.port, &lg->target) != 0) return 2;
  int rc;
  if (strcmp(scenario, "fanout") == 0)
    rc = lg_fanout(lg, &o);
  else if (strcmp(scenario, "channel") == 0)
    rc = lg_channel(lg, &o);
  else if (strcmp(scenario, "connections") == 0)
    rc = lg_connections(lg, &o);
  else if (strcmp(scenario, "webhook") == 0)
    rc = lg_webhook(lg, &o, 0);
  else if (strcmp(scenario, "flows") == 0)
    rc = lg_webhook(lg, &o, 1);
  else if (strcmp(scenario, "flows_blocks") == 0)
    rc = lg_webhook(lg, &o, 2);
  else if (strcmp(scenario, "token") == 0)
    rc = lg_token(lg, &o);
  else {
    usage(stderr);
    return 2;
  }
  if (lg->conn_errors)
    fprintf(stderr, "loadgen: %llu connection errors\n", (unsigned long long)lg->conn_errors);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_loop_close(&loop);
  free(lg);
  return rc;
}
