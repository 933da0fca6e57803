// Run once by the `mongo-init` service (mongosh, authenticated as root on mongo-primary).
// Idempotent: a second run finds the set initiated and the user present, and changes nothing.

const members = [
  { _id: 0, host: "mongo-primary:27017", priority: 2 },
  { _id: 1, host: "mongo-secondary:27017", priority: 1 }
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
  print("replica set rs0 initiated")
}

// Wait (bounded) until this member is primary: users can only be created there.
const deadline = Date.now() + 60_000
while (!db.hello().isWritablePrimary) {
  if (Date.now() > deadline) throw new Error("mongo-primary did not become primary within 60 s")
  sleep(500)
}

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
