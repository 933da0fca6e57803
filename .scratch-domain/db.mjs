import { DatabaseSync } from "node:sqlite"
const db = new DatabaseSync("test/fixtures/store-v1/focusforge.db", { readOnly: true })
console.log(db.prepare("SELECT sql FROM sqlite_master").all().map((r) => r.sql).join("\n"))
console.log(db.prepare("SELECT stream_id, type, substr(data,1,300) d FROM events LIMIT 3").all())
console.log(db.prepare("SELECT substr(stream_id,1,instr(stream_id,'-')-1) p, count(*) n FROM events GROUP BY p").all())
