/* What the auth handlers use of the e-mail handlers: mailing a one-time code
 * and whether verification is required. Loop thread. */
#ifndef PARLEY_HANDLERS_EMAIL_H
#define PARLEY_HANDLERS_EMAIL_H

#include "parley/app.h"

/* Makes a new code of purpose "verify" or "reset" for the user, stores it
 * hashed (replacing the user's earlier one) and queues the mail to email. Fire
 * and forget: failures are logged (the user can ask again). */
void email_send_code(app_t *app, const char *purpose, const char *user_id, const char *email);
/* 1 when email_verification is "required". */
int email_required(const app_t *app);

#endif
