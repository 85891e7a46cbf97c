/* What SQLite takes a stored message on this machine, from a bare table up to
 * the rows Parley writes, with Parley's durability (WAL, synchronous=NORMAL,
 * a commit per group of messages, the WAL checkpointed as it grows): issue 21;
 * docs/PERFORMANCE.md, "What the kernel and SQLite take".
 *
 *   sqlite_insert DIR [--messages N] [--conversations C] [--batch B]
 *
 * Each shape inserts N messages into C conversations (each message to a
 * conversation at random, its seq the next of that conversation), B to a
 * transaction, in a fresh database in DIR, and prints the process's CPU time
 * (user and system) a message, then the same as one JSON line:
 *   bare:     one table keyed by (conversation_id, seq), no rowid;
 *   messages: Parley's messages table (a text id as its key, unique
 *             (conversation_id, seq) and (conversation_id, sender_id,
 *             client_id)), as migration 2 made it;
 *   +counters: that, and per message the conversation's last_seq and
 *             updated_at and the sender's read marker, as a MSG_INSERT batch
 *             does (without the search index and the activity trigger). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void must(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "sqlite_insert: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
  }
}

static const char *const SCHEMA[3] = {
    "CREATE TABLE messages (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " sender_id TEXT NOT NULL, text TEXT, client_id TEXT, created_at TEXT NOT NULL,"
    " PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID;",
    "CREATE TABLE messages (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, sender_id TEXT NOT NULL, text TEXT, client_id TEXT,"
    " source TEXT NOT NULL, attachments TEXT, external_id TEXT, created_at TEXT NOT NULL,"
    " edited_at TEXT, deleted INTEGER NOT NULL DEFAULT 0, UNIQUE (conversation_id, seq));"
    "CREATE UNIQUE INDEX messages_client ON messages(conversation_id, sender_id, client_id)"
    " WHERE client_id IS NOT NULL;",
    NULL, /* as 1, with the counters */
};
static const char *const NAMES[3] = {"bare", "messages", "+counters"};

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: sqlite_insert DIR [--messages N] [--conversations C] [--batch B]\n");
    return 2;
  }
  const char *dir = argv[1];
  int n = 200000, convs = 200, batch = 10;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--messages"))
      n = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--conversations"))
      convs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch"))
      batch = atoi(argv[i + 1]);
  }
  if (n < 1 || convs < 1 || batch < 1) return 2;
  long long *seq = calloc((size_t)convs, sizeof(*seq));
  printf("sqlite_insert: %d messages, %d conversations, %d a commit (SQLite %s)\n", n, convs, batch,
         sqlite3_libversion());
  printf("%-10s %12s %10s\n", "shape", "messages/s", "cpu_us");
  char json[1024];
  int jl = snprintf(json, sizeof(json),
                    "{\"scenario\":\"floor\",\"kind\":\"sqlite\",\"messages\":%d,"
                    "\"conversations\":%d,\"batch\":%d,\"rows\":[",
                    n, convs, batch);
  for (int shape = 0; shape < 3; shape++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/floor-%d.db", dir, shape);
    remove(path);
    char wal[4200];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    remove(wal);
    sqlite3 *db;
    must(NULL, sqlite3_open(path, &db), "open");
    must(db,
         sqlite3_exec(db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      " PRAGMA cache_size=-65536;",
                      NULL, NULL, NULL),
         "pragmas");
    must(db, sqlite3_exec(db, SCHEMA[shape == 2 ? 1 : shape], NULL, NULL, NULL), "schema");
    must(db,
         sqlite3_exec(db,
                      "CREATE TABLE conversations (id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL,"
                      " updated_at TEXT NOT NULL);"
                      "CREATE TABLE participants (conversation_id TEXT NOT NULL, user_id TEXT NOT"
                      " NULL, last_read_seq INTEGER NOT NULL DEFAULT 0,"
                      " PRIMARY KEY (conversation_id, user_id));",
                      NULL, NULL, NULL),
         "schema");
    memset(seq, 0, (size_t)convs * sizeof(*seq));
    char cid[32], uid[32];
    for (int c = 0; c < convs; c++) {
      snprintf(cid, sizeof(cid), "%024x", 0x10000000 + c);
      char sql[256];
      snprintf(sql, sizeof(sql), "INSERT INTO conversations VALUES ('%s', 0, '');", cid);
      must(db, sqlite3_exec(db, sql, NULL, NULL, NULL), "conversation");
      for (int u = 0; u < 10; u++) {
        snprintf(uid, sizeof(uid), "%024x", 0x20000000 + c * 10 + u);
        snprintf(sql, sizeof(sql), "INSERT INTO participants VALUES ('%s', '%s', 0);", cid, uid);
        must(db, sqlite3_exec(db, sql, NULL, NULL, NULL), "participant");
      }
    }
    sqlite3_stmt *ins, *conv, *mark, *begin, *commit;
    must(db,
         sqlite3_prepare_v2(db,
                            shape == 0
                                ? "INSERT INTO messages (conversation_id, seq, sender_id, text,"
                                  " client_id, created_at) VALUES (?2, ?3, ?4, ?5, ?6, ?7)"
                                : "INSERT INTO messages (id, conversation_id, seq, sender_id, text,"
                                  " client_id, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                                  " 'ws', ?7)",
                            -1, &ins, NULL),
         "prepare");
    must(db,
         sqlite3_prepare_v2(db,
                            "UPDATE conversations SET last_seq = ?2, updated_at = ?3 WHERE id = ?1",
                            -1, &conv, NULL),
         "prepare");
    must(db,
         sqlite3_prepare_v2(db,
                            "UPDATE participants SET last_read_seq = ?3 WHERE conversation_id = ?1"
                            " AND user_id = ?2",
                            -1, &mark, NULL),
         "prepare");
    must(db, sqlite3_prepare_v2(db, "BEGIN", -1, &begin, NULL), "prepare");
    must(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), "prepare");
    srand(1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double c0 = cpu_s();
    const char *text = "t=1234567890123 a benchmark message of typical chat length";
    for (int i = 0; i < n; i++) {
      if (i % batch == 0) must(db, sqlite3_step(begin), "begin"), sqlite3_reset(begin);
      int c = rand() % convs;
      long long s = ++seq[c];
      char id[32], client[32], at[32];
      snprintf(id, sizeof(id), "%08x%016llx", (unsigned)time(NULL),
               0x3000000000000000ULL + (unsigned long long)i);
      snprintf(cid, sizeof(cid), "%024x", 0x10000000 + c);
      snprintf(uid, sizeof(uid), "%024x", 0x20000000 + c * 10 + (int)(s % 10));
      snprintf(client, sizeof(client), "b%d", i);
      snprintf(at, sizeof(at), "2026-12-04T05:00:%02d.%03dZ", (i / 1000) % 60, i % 1000);
      sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 2, cid, -1, SQLITE_STATIC);
      sqlite3_bind_int64(ins, 3, s);
      sqlite3_bind_text(ins, 4, uid, -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 5, text, -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 6, client, -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 7, at, -1, SQLITE_STATIC);
      must(db, sqlite3_step(ins), "insert");
      sqlite3_reset(ins);
      if (shape == 2) {
        sqlite3_bind_text(conv, 1, cid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(conv, 2, s);
        sqlite3_bind_text(conv, 3, at, -1, SQLITE_STATIC);
        must(db, sqlite3_step(conv), "conversation");
        sqlite3_reset(conv);
        sqlite3_bind_text(mark, 1, cid, -1, SQLITE_STATIC);
        sqlite3_bind_text(mark, 2, uid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(mark, 3, s);
        must(db, sqlite3_step(mark), "marker");
        sqlite3_reset(mark);
      }
      if (i % batch == batch - 1 || i == n - 1)
        must(db, sqlite3_step(commit), "commit"), sqlite3_reset(commit);
    }
    double cpu = cpu_s() - c0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%-10s %12.0f %10.2f\n", NAMES[shape], n / el, cpu * 1e6 / n);
    fflush(stdout);
    jl += snprintf(json + jl, sizeof(json) - (size_t)jl,
                   "%s{\"shape\":\"%s\",\"messages_per_s\":%.0f,\"cpu_us\":%.2f}", shape ? "," : "",
                   NAMES[shape], n / el, cpu * 1e6 / n);
    sqlite3_finalize(ins);
    sqlite3_finalize(conv);
    sqlite3_finalize(mark);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    remove(path);
    remove(wal);
  }
  printf("%s]}\n", json);
  free(seq);
  return 0;
}
