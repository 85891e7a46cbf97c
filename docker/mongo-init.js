// The mongo-init service of docker/docker-compose.yml, run once per `up` with
//   mongosh --nodb --quiet /parley/mongo-init.js
// It logs in as the root user (created by the image from MONGO_INITDB_ROOT_* on an
// empty data directory) with the password read from the secret file, never from a
// command line; initiates the single-member replica set with the host name clients
// resolve (mongo:27017) when it is not initiated yet; waits for it to be primary; and
// creates Parley's own user from the credentials in Parley's MongoDB URI secret (or
// sets its password, so rotating it is: change the URI file, `up` again). Idempotent.
const fs = require("fs");

const env = process.env;
const host = env.MONGO_HOST || "mongo:27017";
const replSet = env.MONGO_REPLICA_SET || "rs0";
const rootUser = env.MONGO_INITDB_ROOT_USERNAME || "root";
const read = (path) => fs.readFileSync(path, "utf8").replace(/\r?\n$/, "");
const rootPassword = read(env.MONGO_INITDB_ROOT_PASSWORD_FILE || "/run/secrets/mongo_root_password");
const parleyUri = new URL(read(env.PARLEY_MONGO_URI_FILE || "/run/secrets/parley_mongo_uri"));

// mongod may still be starting: retry for a minute.
const conn = new Mongo(`mongodb://${host}/?directConnection=true&serverSelectionTimeoutMS=2000`);
const admin = conn.getDB("admin");
for (let i = 0; ; i++) {
  try {
    admin.runCommand({ ping: 1 });
    break;
  } catch (e) {
    if (i >= 30) throw e;
    sleep(2000);
  }
}
admin.auth(rootUser, rootPassword);

const status = admin.runCommand({ replSetGetStatus: 1 });
if (status.ok !== 1) {
  // 94 NotYetInitialized: a new data directory.
  if (status.code !== 94) throw new Error(`replSetGetStatus: ${JSON.stringify(status)}`);
  const r = admin.runCommand({
    replSetInitiate: { _id: replSet, members: [{ _id: 0, host: host }] },
  });
  if (r.ok !== 1) throw new Error(`replSetInitiate: ${JSON.stringify(r)}`);
  print(`mongo-init: replica set ${replSet} initiated with member ${host}`);
}

for (let i = 0; !admin.runCommand({ hello: 1 }).isWritablePrimary; i++) {
  if (i >= 60) throw new Error("the member did not become primary within a minute");
  sleep(1000);
}

// Parley's user: readWrite on its database, defined in the database the URI names as
// authSource (else the URI's database, as drivers do).
const user = decodeURIComponent(parleyUri.username);
const password = decodeURIComponent(parleyUri.password);
const dbName = decodeURIComponent(parleyUri.pathname.replace(/^\//, "")) || "parley";
const authDb = parleyUri.searchParams.get("authSource") || dbName;
if (!user || !password) throw new Error("the Parley MongoDB URI secret holds no user:password@");
const users = conn.getDB(authDb);
const roles = [{ role: "readWrite", db: dbName }];
if (users.getUser(user)) {
  users.updateUser(user, { pwd: password, roles: roles });
  print(`mongo-init: user ${user}@${authDb} updated`);
} else {
  users.createUser({ user: user, pwd: password, roles: roles });
  print(`mongo-init: user ${user}@${authDb} created`);
}
