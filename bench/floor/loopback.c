/* The kernel's share of a delivery on this machine, with nothing of Parley's
 * in it: what writing WebSocket-sized frames to many loopback TCP sessions
 * costs the writing core, by frames per write (issue 21; docs/PERFORMANCE.md,
 * "What the kernel takes a delivery").
 *
 *   loopback [--sessions N] [--frame BYTES] [--batches 1,2,4] [--rate D]
 *            [--seconds S] [--writer-core C] [--reader-core C]
 *
 * The writer (this process, on --writer-core) accepts N connections from a
 * reader (a child on --reader-core that reads and discards with epoll, as
 * bench/loadgen's sessions do), sets TCP_NODELAY on them as parleyd does, and
 * for each batch size F makes D deliveries a second: every millisecond, the
 * writes due by then, each one write(2) of F frames of --frame bytes to the
 * next session in turn. It sleeps between ticks, so its CPU time
 * (getrusage: user, and system with loopback's receive path, which runs on
 * the sending core) is the writes' own. One line per F: deliveries/s
 * reached, then user, system and both in µs a delivery, and the writer's
 * core's busy time a delivery from /proc/stat (softirq included, and anything
 * else that ran on that core: on a quiet machine it matches the writer's own,
 * which shows that its system time holds loopback's receive path); last, the
 * same as one JSON line for bench/run, whose report quotes the writer's own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) perror("sched_setaffinity");
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The writer's core's busy time from /proc/stat (user, nice, system, irq and
 * softirq; not idle, iowait or steal), in seconds: loopback's receive path
 * runs in softirq on the sending core, and a tick that lands there is
 * counted as softirq, not as the task's system time. */
static double core_busy_s(int core) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  char line[512], want[16];
  snprintf(want, sizeof(want), "cpu%d ", core);
  double busy = 0;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, want, strlen(want)) != 0) continue;
    unsigned long long v[8] = {0};
    sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
           &v[3], &v[4], &v[5], &v[6], &v[7]);
    busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / (double)sysconf(_SC_CLK_TCK);
    break;
  }
  fclose(f);
  return busy;
}

static double cpu_s(int who, int sys) {
  struct rusage ru;
  getrusage(who, &ru);
  const struct timeval *tv = sys ? &ru.ru_stime : &ru.ru_utime;
  return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* The reader: n connections to port, everything read and dropped, until the
 * writer closes them. */
static void reader(int port, int n, int core) {
  pin(core);
  int ep = epoll_create1(0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
      perror("reader: connect");
      _exit(1);
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  static char buf[65536];
  struct epoll_event evs[256];
  int open = n;
  while (open > 0) {
    int k = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < k; i++) {
      ssize_t r = read(evs[i].data.fd, buf, sizeof(buf));
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        close(evs[i].data.fd);
        open--;
      }
    }
  }
  _exit(0);
}

int main(int argc, char **argv) {
  int sessions = 2000, frame = 370, seconds = 4, wcore = 0, rcore = 1;
  double rate = 600000;
  const char *batches = "1,2,3,4,6,8,12";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--sessions"))
      sessions = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--frame"))
      frame = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--batches"))
      batches = argv[i + 1];
    else if (!strcmp(argv[i], "--rate"))
      rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--writer-core"))
      wcore = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--reader-core"))
      rcore = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "loopback: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (sessions < 1 || frame < 2 || frame > 65536 || rate <= 0 || seconds < 1) {
    fprintf(stderr, "loopback: bad arguments\n");
    return 2;
  }
  int maxb = 1;
  for (const char *p = batches; *p;) {
    int f = atoi(p);
    if (f < 1 || f > 1024) {
      fprintf(stderr, "loopback: frames a write are 1 to 1024\n");
      return 2;
    }
    if (f > maxb) maxb = f;
    p = strchr(p, ',');
    if (!p) break;
    p++;
  }
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof(a);
  if (bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 4096) != 0 ||
      getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
    perror("loopback: listen");
    return 1;
  }
  pid_t child = fork();
  if (child == 0) reader(ntohs(a.sin_port), sessions, rcore);
  pin(wcore);
  int *fds = calloc((size_t)sessions, sizeof(int));
  if (!fds) return 1;
  for (int i = 0; i < sessions; i++) {
    /* A reader that failed to connect (it says why) must not leave this
     * waiting for ever. */
    struct pollfd pl = {.fd = ls, .events = POLLIN};
    if (poll(&pl, 1, 10000) != 1) {
      fprintf(stderr, "loopback: the reader connected %d sessions of %d\n", i, sessions);
      kill(child, SIGKILL);
      return 1;
    }
    fds[i] = accept(ls, NULL, NULL);
    if (fds[i] < 0) {
      perror("loopback: accept");
      kill(child, SIGKILL);
      return 1;
    }
    int one = 1;
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fds[i], F_SETFL, O_NONBLOCK);
  }
  /* Frames as a server sends them: a 2-byte (or 4-byte) header, then text. */
  size_t flen = (size_t)frame;
  char *buf = malloc(flen * (size_t)maxb);
  if (!buf) return 1;
  for (int b = 0; b < maxb; b++) {
    char *f = buf + (size_t)b * flen;
    memset(f, 'x', flen);
    f[0] = (char)0x81;
    if (flen - 2 < 126) {
      f[1] = (char)(flen - 2);
    } else {
      f[1] = 126;
      f[2] = (char)((flen - 4) >> 8);
      f[3] = (char)(flen - 4);
    }
  }
  printf("loopback: %d sessions, %d-byte frames, %.0f deliveries/s offered, %d s a batch size\n",
         sessions, frame, rate, seconds);
  printf("%8s %14s %8s %8s %8s %8s %10s\n", "frames/w", "deliveries/s", "user_us", "sys_us",
         "all_us", "core_us", "eagain");
  unsigned next = 0;
  char json[4096];
  int jl = snprintf(json, sizeof(json),
                    "{\"scenario\":\"floor\",\"kind\":\"loopback\",\"sessions\":%d,"
                    "\"frame_bytes\":%d,\"offered_per_s\":%.0f,\"rows\":[",
                    sessions, frame, rate);
  for (const char *p = batches; *p;) {
    int fpw = atoi(p);
    size_t wlen = flen * (size_t)fpw;
    double writes_per_s = rate / fpw;
    long long done = 0, eagain = 0;
    /* One second to settle at this size, then the measured window. */
    for (int phase = 0; phase < 2; phase++) {
      double t0 = now_s(), u0 = cpu_s(RUSAGE_SELF, 0), s0 = cpu_s(RUSAGE_SELF, 1);
      double b0 = core_busy_s(wcore);
      double span = phase ? seconds : 1.0;
      long long writes = 0;
      done = eagain = 0;
      for (;;) {
        double t = now_s() - t0;
        if (t >= span) break;
        long long due = (long long)(t * writes_per_s);
        while (writes < due) {
          ssize_t w = write(fds[next++ % (unsigned)sessions], buf, wlen);
          if (w < 0 && errno == EAGAIN)
            eagain++;
          else if (w > 0)
            done += w / (ssize_t)flen;
          writes++;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
      }
      if (phase) {
        double el = now_s() - t0, us = cpu_s(RUSAGE_SELF, 0) - u0, ss = cpu_s(RUSAGE_SELF, 1) - s0;
        double cs = core_busy_s(wcore) - b0;
        double d = done > 0 ? (double)done : 1;
        printf("%8d %14.0f %8.3f %8.3f %8.3f %8.3f %10lld\n", fpw, (double)done / el, us * 1e6 / d,
               ss * 1e6 / d, (us + ss) * 1e6 / d, cs * 1e6 / d, eagain);
        fflush(stdout);
        if (jl > 0 && (size_t)jl < sizeof(json) - 200)
          jl += snprintf(json + jl, sizeof(json) - (size_t)jl,
                         "%s{\"frames_per_write\":%d,\"deliveries_per_s\":%.0f,\"user_us\":%.3f,"
                         "\"sys_us\":%.3f,\"core_us\":%.3f,\"eagain\":%lld}",
                         json[jl - 1] == '[' ? "" : ",", fpw, (double)done / el, us * 1e6 / d,
                         ss * 1e6 / d, cs * 1e6 / d, eagain);
      }
    }
    p = strchr(p, ',');
    if (!p) break;
    p++;
  }
  printf("%s]}\n", json);
  for (int i = 0; i < sessions; i++) close(fds[i]);
  int st;
  waitpid(child, &st, 0);
  return 0;
}
