/* Settings from defaults, a JSON file, PARLEY_* variables and flags, in that
 * order (API.md, Configuration). Table-driven: every setting has one key, one
 * type, one range. Runs on the main thread before anything starts. */
#include "parley/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/cidr.h"
#include "parley/log.h"

enum kind { K_STR, K_INT, K_I64 };
/* Returns NULL when s is accepted, else why not: a static string, or why[]
 * filled in (whylen bytes). */
typedef const char *(*check_fn)(const char *s, char *why, size_t whylen);

typedef struct setting_s {
  const char *key;
  enum kind kind;
  size_t offset;
  int64_t min, max; /* for numbers */
  check_fn check;   /* for strings; NULL accepts any */
  int from_file;    /* PARLEY_<KEY>_FILE may name a file that holds the value */
  const char *help;
} setting_t;

/* A secret read from a file is at most this long. */
#define SECRET_FILE_MAX 65536

static const char *check_log_level(const char *s, char *why, size_t whylen) {
  return log_level_parse(s) >= 0 ? NULL : "not one of debug, info, warn, error";
}
static const char *check_on_off(const char *s, char *why, size_t whylen) {
  return strcmp(s, "on") == 0 || strcmp(s, "off") == 0 ? NULL : "must be on or off";
}
static const char *check_prefix_http(const char *s, char *why, size_t whylen) {
  return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0
             ? NULL
             : "must start with http:// or https://";
}
static const char *check_vapid_subject(const char *s, char *why, size_t whylen) {
  return strncmp(s, "mailto:", 7) == 0 || strncmp(s, "https://", 8) == 0
             ? NULL
             : "must start with mailto: or https://";
}
static const char *check_mongo(const char *s, char *why, size_t whylen) {
  return strncmp(s, "mongodb://", 10) == 0 || strncmp(s, "mongodb+srv://", 14) == 0
             ? NULL
             : "must start with mongodb:// or mongodb+srv://";
}
static const char *check_redis(const char *s, char *why, size_t whylen) {
  return strncmp(s, "redis://", 8) == 0 ? NULL : "must start with redis://";
}
static const char *check_hex32(const char *s, char *why, size_t whylen) {
  if (strlen(s) != 64) return "must be 64 hex characters";
  for (const char *p = s; *p; p++)
    if (!isxdigit((unsigned char)*p)) return "must be 64 hex characters";
  return NULL;
}
static const char *check_verification(const char *s, char *why, size_t whylen) {
  return strcmp(s, "optional") == 0 || strcmp(s, "required") == 0 ? NULL
                                                                  : "must be optional or required";
}
static const char *check_smtp(const char *s, char *why, size_t whylen) {
  return strncmp(s, "smtp://", 7) == 0 || strncmp(s, "smtps://", 8) == 0
             ? NULL
             : "must start with smtp:// or smtps://";
}
static const char *check_tls(const char *s, char *why, size_t whylen) {
  return strcmp(s, "required") == 0 || strcmp(s, "try") == 0 || strcmp(s, "off") == 0
             ? NULL
             : "must be required, try or off";
}
static const char *check_storage(const char *s, char *why, size_t whylen) {
  return strcmp(s, "dir") == 0 || strcmp(s, "s3") == 0 ? NULL : "must be dir or s3";
}
static const char *check_nonempty(const char *s, char *why, size_t whylen) {
  return s[0] ? NULL : "must not be empty";
}
static const char *check_cidrs(const char *s, char *why, size_t whylen) {
  return cidr_list_check(s, why, whylen);
}
static const char *check_listen(const char *s, char *why, size_t whylen) {
  char host[64];
  int port;
  return config_parse_listen(s, host, sizeof(host), &port);
}

/* For strings, min = 1 marks a required setting; an empty optional one is unset. */
#define S(key, check, help) \
  { #key, K_STR, offsetof(config_t, key), 0, 0, check, 0, help }
#define F(key, check, help) \
  { #key, K_STR, offsetof(config_t, key), 0, 0, check, 1, help }
#define R(key, check, help) \
  { #key, K_STR, offsetof(config_t, key), 1, 0, check, 0, help }
#define I(key, lo, hi, help) \
  { #key, K_INT, offsetof(config_t, key), lo, hi, NULL, 0, help }
#define L(key, lo, hi, help) \
  { #key, K_I64, offsetof(config_t, key), lo, hi, NULL, 0, help }

static const setting_t settings[] = {
    R(host, check_nonempty, "listen address"),
    I(port, 1, 65535, "listen port"),
    R(data_dir, check_nonempty, "SQLite file and generated secrets"),
    F(mongo_uri, check_mongo, "use MongoDB as the store"),
    F(redis_url, check_redis, "use Redis as the bus"),
    F(jwt_secret, check_nonempty, "HS256 key for access tokens"),
    F(secret_key, check_hex32, "32-byte hex key for stored Instagram tokens"),
    F(ig_app_secret, check_nonempty, "Instagram webhook signature key"),
    S(ig_verify_token, check_nonempty, "Instagram webhook verify token"),
    R(graph_api_base, check_prefix_http, "Graph API base URL"),
    S(ig_app_id, check_nonempty, "Instagram app id (Continue with Instagram)"),
    R(ig_oauth_authorize_url, check_prefix_http, "Instagram Login's authorize URL"),
    R(ig_oauth_token_url, check_prefix_http, "Instagram Login's code-exchange URL"),
    R(ig_oauth_long_lived_url, check_prefix_http, "Instagram's long-lived token URL"),
    R(ig_human_agent_tag, check_on_off, "agent replies may use the HUMAN_AGENT tag (7 days)"),
    S(api_call_allow, NULL, "host[:port] that flow api_call may reach"),
    S(cors_origins, NULL, "allowed CORS origins"),
    S(trusted_proxies, check_cidrs, "proxy addresses or CIDR ranges trusted for X-Forwarded-For"),
    S(metrics_listen, check_listen, "host:port of a separate /metrics listener"),
    I(auth_rate_per_ip, 1, 100000000, "login/signup attempts a minute per address"),
    I(auth_rate_per_email, 1, 100000000, "login/signup attempts a minute per email"),
    I(keys_rate_per_user, 1, 100000000, "key bundle fetches a minute per fetching user"),
    I(keys_burst, 1, 100000000, "key bundle fetches at once per fetching user"),
    R(log_level, check_log_level, "debug, info, warn or error"),
    L(max_body_bytes, 1024, INT64_C(1) << 30, "largest request body"),
    I(max_connections, 1, 1000000, "open connections at most"),
    L(upload_max_bytes, 1, INT64_C(1) << 40, "largest uploaded file"),
    I(upload_max_in_flight, 1, 10000, "uploads at once per user"),
    L(upload_quota_bytes, 1, INT64_C(1) << 50, "what one user's uploads may take"),
    R(files_storage, check_storage, "where uploaded files live: dir or s3"),
    S(s3_endpoint, check_prefix_http, "S3-compatible store's address (http:// or https://)"),
    R(s3_region, check_nonempty, "S3 region the requests are signed for"),
    S(s3_bucket, NULL, "S3 bucket of uploaded files"),
    F(s3_access_key, NULL, "S3 access key"),
    F(s3_secret_key, NULL, "S3 secret key"),
    R(s3_path_style, check_on_off, "S3 path-style addressing (endpoint/bucket/key)"),
    L(s3_part_bytes, 5 << 20, INT64_C(5) << 30, "S3 multipart upload part size"),
    I(s3_timeout_ms, 100, 600000, "one S3 request at most"),
    I(s3_retries, 0, 10, "S3 attempts after a 5xx or failed connection"),
    I(s3_max_jobs, 1, 1024, "S3 requests at once (each holds a pool thread)"),
    I(attachment_url_ttl_s, 10, 86400, "signed download URLs live this long at least"),
    I(upload_unsent_ttl_s, 1, 31536000, "uploads never sent in a message are removed after"),
    L(image_max_pixels, 1, INT64_C(1) << 40, "largest image, width times height"),
    S(media_fetch_allow, NULL,
      "host[:port] Instagram media may be fetched from at private addresses"),
    I(media_fetch_concurrency, 1, 64, "Instagram media fetched at once"),
    I(media_fetch_attempts, 1, 20, "tries to fetch an Instagram medium before keeping Meta's URL"),
    I(media_fetch_retry_ms, 10, 3600000, "the first retry of a failed media fetch, doubling after"),
    I(media_fetch_timeout_ms, 1000, 600000, "one media fetch at most"),
    I(request_timeout_ms, 100, 600000, "time for a request to arrive"),
    I(idle_timeout_ms, 100, 3600000, "idle keep-alive connections close after"),
    I(ws_max_message_bytes, 128, 16 << 20, "largest WebSocket message"),
    L(ws_output_limit, 4096, INT64_C(1) << 30, "queued output before a session is dropped"),
    I(ws_auth_timeout_ms, 100, 600000, "time to authenticate a WebSocket"),
    I(ws_ping_interval_ms, 100, 3600000, "WebSocket ping interval"),
    I(ws_pong_timeout_ms, 200, 3600000, "WebSocket closed without a pong after"),
    I(ws_write_delay_ms, 0, 50, "under load, how long a frame may wait to share a write"),
    I(ws_rate, 1, 100000, "WebSocket frames a second"),
    I(ws_burst, 1, 100000, "WebSocket frame burst"),
    I(store_max_jobs, 1, 10000000, "store jobs in flight at most"),
    I(store_timeout_ms, 100, 600000, "MongoDB server selection and socket timeout"),
    I(sqlite_cache_mb, 1, 65536, "SQLite page cache, MiB"),
    I(access_token_ttl, 10, 86400 * 7, "access token lifetime, seconds"),
    I(refresh_token_ttl, 60, 86400 * 365, "refresh token lifetime, seconds"),
    L(argon2_opslimit, 1, 100, "Argon2id passes"),
    L(argon2_memlimit, 8192, INT64_C(1) << 32, "Argon2id memory, bytes"),
    I(shutdown_timeout_ms, 100, 600000, "graceful shutdown deadline"),
    I(flow_max_nodes, 1, 10000, "nodes a flow may have"),
    I(flow_max_text_bytes, 16, 65536, "longest text in a flow node"),
    I(graph_rate_per_min, 1, 1000000, "Graph API sends a minute per account"),
    I(graph_timeout_ms, 100, 600000, "one Graph API request at most"),
    I(ig_token_refresh_interval_ms, 100, 86400000, "how often Instagram tokens are checked"),
    I(ig_token_refresh_ahead_s, 60, 86400 * 60, "Instagram tokens are refreshed this long ahead"),
    I(automation_pause_seconds, 1, 30 * 86400,
      "how long an agent's reply pauses a contact's flows"),
    R(email_verification, check_verification, "e-mail verification: optional or required"),
    S(public_url, check_prefix_http, "the web client's address, for links in mail"),
    F(smtp_url, check_smtp, "SMTP server (smtp:// or smtps://); unset: mail goes to files"),
    S(smtp_user, NULL, "SMTP user name"),
    F(smtp_password, NULL, "SMTP password"),
    R(smtp_from, check_nonempty, "the sender address of mail"),
    R(smtp_tls, check_tls, "STARTTLS: required, try or off"),
    I(smtp_timeout_ms, 100, 600000, "one SMTP attempt at most"),
    I(mail_queue_max, 1, 1000000, "mails waiting to be sent at most"),
    I(mail_retries, 0, 20, "attempts after a failed one"),
    I(mail_retry_ms, 10, 3600000, "delay before the first retry (doubling)"),
    I(mail_rate_per_ip, 1, 100000000, "mail-sending requests a minute per address"),
    I(mail_rate_per_email, 1, 100000000, "mails a minute per address mailed"),
    I(verify_code_ttl_s, 60, 30 * 86400, "life of an e-mail verification code, seconds"),
    I(reset_code_ttl_s, 60, 7 * 86400, "life of a password reset code, seconds"),
    I(code_max_attempts, 1, 100, "wrong tries before a code is dead"),
    I(call_ring_timeout_ms, 1000, 600000, "an unanswered call is missed after"),
    F(turn_secret, check_nonempty, "TURN REST API shared secret (coturn static-auth-secret)"),
    S(turn_uris, NULL, "comma-separated TURN/STUN URIs handed to clients"),
    I(turn_ttl_s, 60, 7 * 86400, "TURN credentials live this long, seconds"),
    I(bots_per_user, 1, 1000, "bots one user may own"),
    I(bot_queue_max, 1, 1000000, "webhook deliveries queued per bot at most"),
    I(bot_in_flight, 1, 10000, "bot webhook requests at once"),
    I(bot_timeout_ms, 100, 600000, "one bot webhook request at most"),
    I(bot_backoff_ms, 10, 3600000, "delay before a bot webhook's first retry (doubling)"),
    I(bot_backoff_max_ms, 10, 86400000, "the longest delay between bot webhook retries"),
    I(bot_max_failures, 1, 1000, "failed attempts in a row that disable a bot's webhook"),
    I(bot_poll_ms, 10, 600000, "how often the bot outbox is looked at"),
    F(vapid_private_key, check_nonempty, "Web Push VAPID private key (PEM or base64url scalar)"),
    R(vapid_subject, check_vapid_subject,
      "Web Push VAPID subject: the operator's mailto: or https:"),
    S(push_allow, NULL, "host[:port] push endpoints may use past the SSRF guard (http too)"),
    R(push_preview, check_on_off, "push notifications carry a preview of the text"),
    I(push_queue_max, 1, 1000000, "Web Push sends waiting at most"),
    I(push_concurrency, 1, 1024, "Web Push sends at once"),
    I(push_ttl_s, 0, 28 * 86400, "how long a push service keeps an undelivered push, seconds"),
    I(push_timeout_ms, 100, 600000, "one Web Push request at most"),
    S(web_dir, NULL, "the web client's files, served at /"),
    L(web_max_bytes, 0, INT64_C(1) << 30, "web client bytes held in memory at most"),
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static void set_defaults(config_t *c) {
  memset(c, 0, sizeof(*c));
  c->host = strdup("127.0.0.1");
  c->port = 8080;
  c->data_dir = strdup("./data");
  c->graph_api_base = strdup("https://graph.instagram.com/v21.0");
  c->ig_oauth_authorize_url = strdup("https://www.instagram.com/oauth/authorize");
  c->ig_oauth_token_url = strdup("https://api.instagram.com/oauth/access_token");
  c->ig_oauth_long_lived_url = strdup("https://graph.instagram.com/access_token");
  c->api_call_allow = strdup("");
  c->cors_origins = strdup("");
  c->trusted_proxies = strdup("");
  c->auth_rate_per_ip = 60;
  c->auth_rate_per_email = 10;
  c->keys_rate_per_user = 30;
  c->keys_burst = 10;
  c->log_level = strdup("info");
  c->max_body_bytes = 1 << 20;
  c->max_connections = 50000;
  c->request_timeout_ms = 10000;
  c->idle_timeout_ms = 60000;
  c->ws_max_message_bytes = 64 * 1024;
  c->ws_output_limit = 1 << 20;
  c->ws_auth_timeout_ms = 10000;
  c->ws_ping_interval_ms = 30000;
  c->ws_pong_timeout_ms = 60000;
  c->ws_write_delay_ms = 0;
  c->ws_rate = 20;
  c->ws_burst = 40;
  c->store_max_jobs = 10000;
  c->store_timeout_ms = 5000;
  c->sqlite_cache_mb = 64;
  c->access_token_ttl = 900;
  c->refresh_token_ttl = 30 * 86400;
  c->argon2_opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  c->argon2_memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  c->shutdown_timeout_ms = 10000;
  c->flow_max_nodes = 200;
  c->flow_max_text_bytes = 4000;
  c->graph_rate_per_min = 600;
  c->graph_timeout_ms = 10000;
  c->ig_token_refresh_interval_ms = 3600000;
  c->ig_token_refresh_ahead_s = 7 * 86400;
  c->ig_human_agent_tag = strdup("off");
  c->automation_pause_seconds = 1800;
  c->call_ring_timeout_ms = 30000;
  c->turn_uris = strdup("");
  c->turn_ttl_s = 86400;
  c->bots_per_user = 20;
  c->bot_queue_max = 1000;
  c->bot_in_flight = 16;
  c->bot_timeout_ms = 10000;
  c->bot_backoff_ms = 1000;
  c->bot_backoff_max_ms = 600000;
  c->bot_max_failures = 8;
  c->bot_poll_ms = 2000;
  c->vapid_subject = strdup("mailto:parley@localhost");
  c->push_allow = strdup("");
  c->push_preview = strdup("on");
  c->push_queue_max = 1000;
  c->push_concurrency = 8;
  c->push_ttl_s = 86400;
  c->push_timeout_ms = 10000;
  c->email_verification = strdup("optional");
  c->smtp_from = strdup("parley@localhost");
  c->smtp_tls = strdup("try");
  c->smtp_timeout_ms = 30000;
  c->mail_queue_max = 1000;
  c->mail_retries = 4;
  c->mail_retry_ms = 2000;
  c->mail_rate_per_ip = 10;
  c->mail_rate_per_email = 3;
  c->verify_code_ttl_s = 86400;
  c->reset_code_ttl_s = 1800;
  c->code_max_attempts = 5;
  c->web_dir = strdup("web/dist");
  c->web_max_bytes = 32 << 20;
  c->upload_max_bytes = 25 << 20;
  c->upload_max_in_flight = 4;
  c->upload_quota_bytes = INT64_C(1) << 30;
  c->files_storage = strdup("dir");
  c->s3_region = strdup("us-east-1");
  c->s3_path_style = strdup("on");
  c->s3_part_bytes = 8 << 20;
  c->s3_timeout_ms = 30000;
  c->s3_retries = 2;
  c->s3_max_jobs = 2;
  c->attachment_url_ttl_s = 300;
  c->upload_unsent_ttl_s = 86400;
  c->image_max_pixels = 100000000;
  c->media_fetch_allow = strdup("");
  c->media_fetch_concurrency = 2;
  c->media_fetch_attempts = 6;
  c->media_fetch_retry_ms = 30000;
  c->media_fetch_timeout_ms = 60000;
}

static const setting_t *find_setting(const char *key) {
  for (size_t i = 0; i < NSETTINGS; i++)
    if (strcmp(settings[i].key, key) == 0) return &settings[i];
  return NULL;
}

static int bad(const char *source, const char *key, const char *why) {
  fprintf(stderr, "parleyd: invalid setting %s (%s): %s\n", key, source, why);
  return 2;
}

/* Sets a string setting; NULL or "" for an optional one unsets it. */
static int apply_string(config_t *c, const setting_t *st, const char *v, const char *source) {
  char **slot = (char **)((char *)c + st->offset);
  if (v && v[0] == '\0') v = NULL;
  if (!v && st->min) return bad(source, st->key, "must not be empty");
  char buf[160];
  const char *why = v && st->check ? st->check(v, buf, sizeof(buf)) : NULL;
  if (why) return bad(source, st->key, why);
  free(*slot);
  *slot = v ? strdup(v) : NULL;
  return 0;
}

static int apply_number(config_t *c, const setting_t *st, long long v, const char *source) {
  if (v < st->min || v > st->max) {
    char why[96];
    snprintf(why, sizeof(why), "must be between %lld and %lld", (long long)st->min,
             (long long)st->max);
    return bad(source, st->key, why);
  }
  if (st->kind == K_INT)
    *(int *)((char *)c + st->offset) = (int)v;
  else
    *(int64_t *)((char *)c + st->offset) = v;
  return 0;
}

static int apply_text(config_t *c, const setting_t *st, const char *v, const char *source) {
  if (st->kind == K_STR) return apply_string(c, st, v, source);
  char *end = NULL;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || end == v || *end != '\0') return bad(source, st->key, "not an integer");
  return apply_number(c, st, n, source);
}

static int load_file(config_t *c, const char *path) {
  json_error_t err;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
  if (!root) {
    fprintf(stderr, "parleyd: invalid setting config (%s): line %d: %s\n", path, err.line,
            err.text);
    return 2;
  }
  int rc = 0;
  if (!json_is_object(root)) {
    rc = bad(path, "config", "the file must hold a JSON object");
    goto done;
  }
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    const setting_t *st = find_setting(key);
    if (!st) {
      rc = bad(path, key, "unknown setting");
      break;
    }
    if (st->kind == K_STR) {
      if (!json_is_string(v) && !json_is_null(v)) {
        rc = bad(path, key, "must be a string");
        break;
      }
      rc = apply_string(c, st, json_is_null(v) ? NULL : json_string_value(v), path);
    } else {
      if (!json_is_integer(v)) {
        rc = bad(path, key, "must be an integer");
        break;
      }
      rc = apply_number(c, st, json_integer_value(v), path);
    }
    if (rc) break;
  }
done:
  json_decref(root);
  return rc;
}

/* Reads the value of a PARLEY_<KEY>_FILE: the whole file, one trailing newline
 * (\n or \r\n) removed. Returns a new string, or NULL after printing why. */
static char *read_value_file(const setting_t *st, const char *var, const char *path) {
  char why[160];
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(why, sizeof(why), "cannot read %s: %s", path, strerror(errno));
    bad(var, st->key, why);
    return NULL;
  }
  char *v = malloc(SECRET_FILE_MAX + 1);
  size_t n = v ? fread(v, 1, SECRET_FILE_MAX + 1, f) : 0;
  int failed = !v || ferror(f);
  fclose(f);
  const char *problem = NULL;
  if (failed)
    problem = v ? "cannot read the file" : "out of memory";
  else if (n > SECRET_FILE_MAX)
    problem = "the file is larger than 65536 bytes";
  else if (memchr(v, '\0', n))
    problem = "the file holds a NUL byte";
  if (!problem) {
    if (n > 0 && v[n - 1] == '\n') n--;
    if (n > 0 && v[n - 1] == '\r') n--;
    v[n] = '\0';
    if (n == 0) problem = "the file is empty";
  }
  if (problem) {
    snprintf(why, sizeof(why), "%s: %s", path, problem);
    bad(var, st->key, why);
    free(v);
    return NULL;
  }
  return v;
}

static int load_env(config_t *c) {
  for (size_t i = 0; i < NSETTINGS; i++) {
    const setting_t *st = &settings[i];
    char name[64] = "PARLEY_", file_name[72];
    size_t n = strlen(name);
    for (const char *k = st->key; *k && n < sizeof(name) - 1; k++)
      name[n++] = (char)toupper((unsigned char)*k);
    name[n] = '\0';
    snprintf(file_name, sizeof(file_name), "%s_FILE", name);
    const char *v = getenv(name);
    const char *path = st->from_file ? getenv(file_name) : NULL;
    if (path && path[0]) {
      /* Empty means unset here too, so an env file may list both names. */
      if (v && v[0]) {
        char why[256];
        snprintf(why, sizeof(why), "%s and %s are both set; set one", name, file_name);
        return bad(file_name, st->key, why);
      }
      char *value = read_value_file(st, file_name, path);
      if (!value) return 2;
      int rc = apply_text(c, st, value, file_name);
      sodium_memzero(value, strlen(value));
      free(value);
      if (rc) return rc;
      continue;
    }
    if (!v) continue;
    int rc = apply_text(c, st, v, name);
    if (rc) return rc;
  }
  return 0;
}

const char *config_parse_listen(const char *s, char *host, size_t hostlen, int *port) {
  const char *colon = strrchr(s, ':');
  if (!colon) return "must be host:port (e.g. 127.0.0.1:9100 or [::1]:9100)";
  const char *h = s, *h_end = colon;
  if (s[0] == '[') {
    if (colon == s || colon[-1] != ']') return "an IPv6 host goes in brackets: [::1]:9100";
    h = s + 1;
    h_end = colon - 1;
  }
  size_t hlen = (size_t)(h_end - h);
  if (hlen == 0 || hlen >= hostlen) return "bad host";
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  unsigned char addr[16];
  int v6 = inet_pton(AF_INET6, host, addr) == 1;
  if (v6 != (s[0] == '[') ||
      (!v6 && inet_pton(AF_INET, host, addr) != 1 && strcmp(host, "localhost") != 0))
    return "the host must be an IPv4 address, [IPv6 address] or localhost";
  long p = 0;
  const char *d = colon + 1;
  for (; *d >= '0' && *d <= '9' && p <= 65535; d++) p = p * 10 + (*d - '0');
  if (d == colon + 1 || *d != '\0' || p < 1 || p > 65535)
    return "the port must be between 1 and 65535";
  *port = (int)p;
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: parleyd [--config FILE] [--port N] [--help] [--version]\n\n"
          "Parley chat server. Settings come from the defaults, then the JSON config\n"
          "file, then PARLEY_* environment variables, then flags. Settings:\n");
  for (size_t i = 0; i < NSETTINGS; i++)
    fprintf(f, "  %-22s %s\n", settings[i].key, settings[i].help);
  fprintf(f,
          "Each is PARLEY_<KEY> in the environment (e.g. PARLEY_PORT). These may instead\n"
          "be read from a file named by PARLEY_<KEY>_FILE:");
  for (size_t i = 0; i < NSETTINGS; i++)
    if (settings[i].from_file) fprintf(f, " %s", settings[i].key);
  fprintf(f, "\n");
}

/* Returns the value of --name VALUE or --name=VALUE at argv[*i], advancing *i. */
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] == '\0' && *i + 1 < argc) return argv[++*i];
  return NULL;
}

int config_load(config_t *c, int argc, char **argv) {
  set_defaults(c);
  const char *file = getenv("PARLEY_CONFIG");
  const char *port = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 1;
    } else if (strcmp(argv[i], "--version") == 0) {
      printf("parleyd %s\n", PARLEY_VERSION);
      return 1;
    } else if ((v = flag_value(argc, argv, &i, "--config"))) {
      file = v;
    } else if ((v = flag_value(argc, argv, &i, "--port"))) {
      port = v;
    } else {
      fprintf(stderr, "parleyd: unknown or incomplete flag %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  int rc = 0;
  if (file && file[0]) {
    c->config_file = strdup(file);
    rc = load_file(c, file);
  }
  if (!rc) rc = load_env(c);
  if (!rc && port) rc = apply_text(c, find_setting("port"), port, "--port");
  if (!rc && strcmp(c->files_storage, "s3") == 0) {
    const char *missing = !c->s3_endpoint     ? "s3_endpoint"
                          : !c->s3_bucket     ? "s3_bucket"
                          : !c->s3_access_key ? "s3_access_key"
                          : !c->s3_secret_key ? "s3_secret_key"
                                              : NULL;
    if (missing) rc = bad("with files_storage s3", missing, "must be set");
  }
  if (!rc && c->metrics_listen) {
    config_parse_listen(c->metrics_listen, c->metrics_host, sizeof(c->metrics_host),
                        &c->metrics_port);
    if (c->metrics_port == c->port)
      rc = bad("with port", "metrics_listen", "must use another port than the main listener");
  }
  return rc;
}

void config_free(config_t *c) {
  for (size_t i = 0; i < NSETTINGS; i++) {
    if (settings[i].kind != K_STR) continue;
    char **slot = (char **)((char *)c + settings[i].offset);
    free(*slot);
    *slot = NULL;
  }
  free(c->config_file);
  c->config_file = NULL;
}
