// Run once by the `mongo-init` service (mongosh, authenticated as root on mongo-primary).
// Idempotent: a second run finds the set initiated, every member present and the user present, and
// changes nothing (the password is refreshed).
//
// Three data-bearing voting members: a majority (2 of 3) survives the loss of any one node, so majority
// writes (the event store's only kind) keep working through a single failure. With two voters, losing
// either one stopped every write. No arbiter: an arbiter votes but holds no data, so with one data node
// down `w: "majority"` could no longer be acknowledged while the set still had a primary.
// mongo-primary has the higher priority, so it is elected whenever it is healthy and back in sync.

const members = [
  { _id: 0, host: "mongo-primary:27017", priority: 2, votes: 1 },
  { _id: 1, host: "mongo-secondary-1:27017", priority: 1, votes: 1 },
  { _id: 2, host: "mongo-secondary-2:27017", priority: 1, votes: 1 }
]

let initiated = true
try {
  rs.status()
} catch (error) {
  if (error.codeName !== "NotYetInitialized") throw error
  initiated = false
}
if (!initiated) {
  rs.initiate({ _id: "rs0", members })
  print("replica set rs0 initiated with " + members.length + " members")
}

// Wait (bounded) until this member is primary: reconfiguration and users happen there.
const waitUntil = (what, seconds, done) => {
  const deadline = Date.now() + seconds * 1000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(what + " did not happen within " + seconds + " s")
    sleep(500)
  }
}
waitUntil("mongo-primary becoming primary", 60, () => db.hello().isWritablePrimary)

// A set initiated by an older version of this script (two members) gains the missing ones. `rs.add`
// changes one voter per reconfiguration, as MongoDB requires, and waits for the previous one to commit.
const configured = new Set(rs.conf().members.map((member) => member.host))
for (const member of members) {
  if (!configured.has(member.host)) {
    const { _id, ...wanted } = member
    rs.add(wanted)
    print("member " + member.host + " added")
  }
}

// The backends start right after this script: wait until every member is up (primary or secondary),
// so their first majority write does not wait for a member's initial sync.
waitUntil("every member reaching PRIMARY or SECONDARY", 120, () =>
  rs.status().members.every((member) => member.state === 1 || member.state === 2)
)

const app = db.getSiblingDB("focusforge")
const password = process.env.MONGO_APP_PASSWORD
if (!password) throw new Error("MONGO_APP_PASSWORD is not set")
if (app.getUser("focusforge") === null) {
  app.createUser({ user: "focusforge", pwd: password, roles: [{ role: "readWrite", db: "focusforge" }] })
  print("user focusforge created")
} else {
  app.updateUser("focusforge", { pwd: password })
  print("user focusforge password refreshed")
}
