/* Settings: defaults, then a JSON config file, then PARLEY_* environment
 * variables, then command-line flags (API.md, Configuration). Every setting has
 * one name: `key` in the file, PARLEY_KEY in the environment. Loaded once on the
 * main thread before the loop starts; read-only afterwards. */
#ifndef PARLEY_CONFIG_H
#define PARLEY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct config_s {
  /* API.md's table */
  char *host;               /* host */
  int port;                 /* port */
  char *data_dir;           /* data_dir */
  char *mongo_uri;          /* mongo_uri: NULL means SQLite */
  char *redis_url;          /* redis_url: NULL means in-process bus */
  char *jwt_secret;         /* jwt_secret: NULL means generated in data_dir */
  char *secret_key;         /* secret_key: 64 hex chars, NULL means generated */
  char *ig_app_secret;      /* ig_app_secret */
  char *ig_verify_token;    /* ig_verify_token */
  char *graph_api_base;     /* graph_api_base */
  char *ig_human_agent_tag; /* ig_human_agent_tag: "on" lets agent replies use Meta's HUMAN_AGENT
                               tag (7-day window); "off" (default) */
  char *api_call_allow;     /* api_call_allow: comma-separated host[:port] */
  char *cors_origins;       /* cors_origins: comma-separated origins */
  char *trusted_proxies;    /* trusted_proxies: comma-separated addresses or CIDR ranges whose
                               X-Forwarded-For names the client (nginx in front); empty: none */
  char *metrics_listen;     /* metrics_listen: host:port serving /metrics apart; NULL: the main
                               listener serves it */
  int auth_rate_per_ip;     /* auth_rate_per_ip: attempts a minute */
  int auth_rate_per_email;
  int keys_rate_per_user; /* keys_rate_per_user: bundle fetches a minute per fetcher, 30 */
  int keys_burst;         /* keys_burst: bundle fetches at once per fetcher, 10 */
  char *log_level;

  /* Limits and tuning beyond API.md's table (documented in config/). */
  int64_t max_body_bytes;   /* max_body_bytes: 1 MiB */
  int max_connections;      /* max_connections: 50000 */
  int request_timeout_ms;   /* request_timeout_ms: 10000 */
  int idle_timeout_ms;      /* idle_timeout_ms: 60000 */
  int ws_max_message_bytes; /* ws_max_message_bytes: 65536 */
  int64_t ws_output_limit;  /* ws_output_limit: 1 MiB of queued output per session */
  int ws_auth_timeout_ms;   /* ws_auth_timeout_ms: 10000 */
  int ws_ping_interval_ms;  /* ws_ping_interval_ms: 30000 */
  int ws_pong_timeout_ms;   /* ws_pong_timeout_ms: 60000 */
  int ws_write_delay_ms;    /* ws_write_delay_ms: 0 (off); under load only */
  int ws_rate;              /* ws_rate: frames a second, 20 */
  int ws_burst;             /* ws_burst: 40 */
  int store_max_jobs;       /* store_max_jobs: 10000 */
  int store_timeout_ms;     /* store_timeout_ms: 5000 */
  int sqlite_cache_mb;      /* sqlite_cache_mb: SQLite's page cache, 64 MiB */
  int access_token_ttl;     /* access_token_ttl: seconds, 900 */
  int refresh_token_ttl;    /* refresh_token_ttl: seconds, 30 days */
  int64_t argon2_opslimit;  /* argon2_opslimit: crypto_pwhash_OPSLIMIT_INTERACTIVE */
  int64_t argon2_memlimit;  /* argon2_memlimit: crypto_pwhash_MEMLIMIT_INTERACTIVE */
  int shutdown_timeout_ms;  /* shutdown_timeout_ms: 10000 */
  int flow_max_nodes;       /* flow_max_nodes: 200 */
  int flow_max_text_bytes;  /* flow_max_text_bytes: 4000 */
  int graph_rate_per_min;   /* graph_rate_per_min: Graph API sends a minute per account, 600 */
  int graph_timeout_ms;     /* graph_timeout_ms: one Graph API request at most, 10000 */
  int ig_token_refresh_interval_ms; /* ig_token_refresh_interval_ms: how often tokens are
                                       checked for refresh, 3600000 */
  int ig_token_refresh_ahead_s;     /* ig_token_refresh_ahead_s: a token is refreshed this long
                                       before it expires, 7 days */
  int automation_pause_seconds; /* automation_pause_seconds: an agent's reply pauses flows, 1800 */

  /* "Continue with Instagram" (Instagram Login): the app id and the three
   * endpoints (settings, so a test's stand-in takes their place). The app
   * secret is ig_app_secret; the redirect URI is public_url + /instagram/connect. */
  char *ig_app_id;               /* ig_app_id: NULL: the OAuth connect answers 503 */
  char *ig_oauth_authorize_url;  /* ig_oauth_authorize_url */
  char *ig_oauth_token_url;      /* ig_oauth_token_url: the code exchange */
  char *ig_oauth_long_lived_url; /* ig_oauth_long_lived_url: short- for long-lived token */

  /* E-mail: verification of addresses, password reset, and how mail goes out. */
  char *email_verification; /* email_verification: "optional" (default) or "required" */
  char *public_url;         /* public_url: the web client's address, for links in mail; NULL: codes
                               only */
  char *smtp_url;           /* smtp_url: smtp://host:port or smtps://host:port; NULL: files */
  char *smtp_user;          /* smtp_user */
  char *smtp_password;      /* smtp_password */
  char *smtp_from;          /* smtp_from: the sender address, "parley@localhost" */
  char *smtp_tls;           /* smtp_tls: STARTTLS "required", "try" (default) or "off" */
  int smtp_timeout_ms;      /* smtp_timeout_ms: one attempt at most, 30000 */
  int mail_queue_max;       /* mail_queue_max: mails waiting at most, 1000 */
  int mail_retries;         /* mail_retries: attempts after the first, 4 */
  int mail_retry_ms;        /* mail_retry_ms: the first retry's delay (doubling), 2000 */
  int mail_rate_per_ip;     /* mail_rate_per_ip: mail-sending requests a minute per address, 10 */
  int mail_rate_per_email;  /* mail_rate_per_email: mails a minute per address mailed, 3 */
  int verify_code_ttl_s;    /* verify_code_ttl_s: a verification code's life, 86400 */
  int reset_code_ttl_s;     /* reset_code_ttl_s: a reset code's life, 1800 */
  int code_max_attempts;    /* code_max_attempts: wrong tries before a code is dead, 5 */

  int64_t upload_max_bytes;   /* upload_max_bytes: one uploaded file at most, 25 MiB */
  int upload_max_in_flight;   /* upload_max_in_flight: uploads at once per user, 4 */
  int64_t upload_quota_bytes; /* upload_quota_bytes: what a user's uploads may take, 1 GiB */
  int attachment_url_ttl_s;   /* attachment_url_ttl_s: a signed download URL lives 1 to 2 x, 300 */
  int upload_unsent_ttl_s;    /* upload_unsent_ttl_s: uploads never sent are removed after, 86400 */

  /* Instagram media fetched from Meta's URLs into storage (instagram/media.c). */
  char *media_fetch_allow;     /* media_fetch_allow: host[:port] reachable at private addresses */
  int media_fetch_concurrency; /* media_fetch_concurrency: fetches at once, 2 */
  int media_fetch_attempts;    /* media_fetch_attempts: tries before Meta's URL is kept, 6 */
  int media_fetch_retry_ms;    /* media_fetch_retry_ms: first retry after, doubling, 30000 */
  int media_fetch_timeout_ms;  /* media_fetch_timeout_ms: one fetch at most, 60000 */

  /* Where uploaded files live: the data directory, or an S3-compatible store. */
  char *files_storage;      /* files_storage: "dir" (default) or "s3" */
  char *s3_endpoint;        /* s3_endpoint: http(s)://host[:port] */
  char *s3_region;          /* s3_region: "us-east-1" */
  char *s3_bucket;          /* s3_bucket */
  char *s3_access_key;      /* s3_access_key (or PARLEY_S3_ACCESS_KEY_FILE) */
  char *s3_secret_key;      /* s3_secret_key (or PARLEY_S3_SECRET_KEY_FILE) */
  char *s3_path_style;      /* s3_path_style: "on" (endpoint/bucket/key, default) or "off" */
  int64_t s3_part_bytes;    /* s3_part_bytes: a multipart upload's parts, 8 MiB (5 MiB at least) */
  int s3_timeout_ms;        /* s3_timeout_ms: one S3 request at most, 30000 */
  int s3_retries;           /* s3_retries: attempts after a 5xx or failed connection, 2 */
  int s3_max_jobs;          /* s3_max_jobs: S3 requests at once (each holds a pool thread), 2 */
  int64_t image_max_pixels; /* image_max_pixels: an image's width * height at most, 1e8 */

  /* Calls (WebRTC signalling) and the TURN server's REST credentials. */
  int call_ring_timeout_ms; /* call_ring_timeout_ms: an unanswered call is missed after, 30000 */
  char *turn_secret;        /* turn_secret (or PARLEY_TURN_SECRET_FILE): coturn's auth secret */
  char *turn_uris;          /* turn_uris: comma-separated turn:/turns:/stun: URIs */
  int turn_ttl_s;           /* turn_ttl_s: TURN credentials live this long, 86400 */

  /* Bots (src/bots/): their webhook deliveries. */
  int bots_per_user;      /* bots_per_user: bots one user may own, 20 */
  int bot_queue_max;      /* bot_queue_max: deliveries queued per bot at most, 1000 */
  int bot_in_flight;      /* bot_in_flight: webhook requests at once per instance, 16 */
  int bot_timeout_ms;     /* bot_timeout_ms: one webhook request at most, 10000 */
  int bot_backoff_ms;     /* bot_backoff_ms: the first retry's delay (doubling), 1000 */
  int bot_backoff_max_ms; /* bot_backoff_max_ms: the longest delay, 600000 */
  int bot_max_failures;   /* bot_max_failures: failed attempts in a row that disable a bot, 8 */
  int bot_poll_ms;        /* bot_poll_ms: how often the outbox is looked at, 2000 */
  /* Web Push (VAPID): the key (else generated in data_dir), the operator's
   * contact, the endpoints let past the SSRF guard, and the send queue. */
  char *vapid_private_key; /* vapid_private_key (or PARLEY_VAPID_PRIVATE_KEY_FILE): PEM or the
                              base64url private scalar; NULL: <data_dir>/vapid_private_key.pem */
  char *vapid_subject;     /* vapid_subject: mailto: or https:, "mailto:parley@localhost" */
  char *push_allow;        /* push_allow: comma-separated host[:port], as api_call_allow */
  char *push_preview;      /* push_preview: "on" (default) or "off": no message text in pushes */
  int push_queue_max;      /* push_queue_max: sends waiting at most, 1000 */
  int push_concurrency;    /* push_concurrency: sends at once, 8 */
  int push_ttl_s;          /* push_ttl_s: the TTL header, 86400 */
  int push_timeout_ms;     /* push_timeout_ms: one push request at most, 10000 */

  char *web_dir;         /* web_dir: the web client's files, "web/dist"; NULL: API only */
  int64_t web_max_bytes; /* web_max_bytes: the web client held in memory, 32 MiB */

  char *config_file;     /* the file read, if any */
  char metrics_host[64]; /* metrics_listen split, when set */
  int metrics_port;
} config_t;

/* Fills cfg from defaults, file, environment and argv. Returns 0 to run, 1 when
 * --help or --version was printed (exit 0), or 2 after printing to stderr a
 * message that names the bad setting (exit 2). */
int config_load(config_t *cfg, int argc, char **argv);
/* Splits a listen address "host:port" or "[v6]:port" (host an IP address or
 * localhost) into host (hostlen bytes) and *port. Returns NULL, or why it is
 * not one (a static string). */
const char *config_parse_listen(const char *s, char *host, size_t hostlen, int *port);
/* Frees the strings. */
void config_free(config_t *cfg);

#endif
