import { describe, expect, it } from "vitest"
import { MongoServerError } from "mongodb"
import { clientOptions, defaultPoolSettings } from "../src/layers/Database.ts"
import {
  COLLECTIONS,
  classifyAppendFailure,
  duplicateKeyOf,
  EVENT_INDEXES,
  fromDocument,
  toDocument
} from "../src/layers/EventStoreMongo.ts"

// These run without a server: the pure parts of the MongoDB store.

const duplicateKey = (collection: string, index: string) =>
  new MongoServerError({
    message: `E11000 duplicate key error collection: focusforge.${collection} index: ${index} dup key: { : "x" }`,
    code: 11000
  })

describe("EventStoreMongo (pure parts)", () => {
  it("maps an event to its document and back without loss", () => {
    const event = {
      eventId: "e-1",
      type: "Incremented",
      data: { _tag: "Incremented", by: 2, nested: { list: [1, 2] } },
      metadata: { correlationId: "c", causationId: "k", timestamp: "2025-01-01T00:00:00.000Z" }
    }
    const doc = toDocument("counter-1", event, 7, 42)
    expect(doc).toEqual({
      _id: "e-1",
      streamId: "counter-1",
      version: 7,
      position: 42,
      type: "Incremented",
      data: event.data,
      metadata: event.metadata
    })
    expect(fromDocument(doc)).toEqual({ ...event, streamId: "counter-1", version: 7, position: 42 })
  })

  it("tells which unique index a duplicate-key error hit", () => {
    expect(duplicateKeyOf(duplicateKey(COLLECTIONS.streams, "_id_"))).toBe("stream-head")
    expect(duplicateKeyOf(duplicateKey(COLLECTIONS.events, "streamId_version"))).toBe("stream-version")
    expect(duplicateKeyOf(duplicateKey(COLLECTIONS.events, "_id_"))).toBe("event-id")
    expect(duplicateKeyOf(duplicateKey(COLLECTIONS.events, "position"))).toBe("other")
    expect(duplicateKeyOf(new MongoServerError({ message: "not primary", code: 10107 }))).toBeUndefined()
    expect(duplicateKeyOf(new Error("E11000 in a plain error"))).toBeUndefined()
  })

  it("turns a lost race (E11000 on the stream head or version) into a conflict, never a raw error", () => {
    expect(classifyAppendFailure(duplicateKey(COLLECTIONS.streams, "_id_"))).toBe("conflict")
    expect(classifyAppendFailure(duplicateKey(COLLECTIONS.events, "streamId_version"))).toBe("conflict")
    expect(classifyAppendFailure(duplicateKey(COLLECTIONS.events, "_id_"))).toBe("duplicate-event-id")
    expect(classifyAppendFailure(new MongoServerError({ message: "boom", code: 1 }))).toEqual({
      message: "boom"
    })
  })

  it("declares unique indexes on (streamId, version) and on position", () => {
    expect(EVENT_INDEXES).toEqual([
      { name: "streamId_version", key: { streamId: 1, version: 1 }, unique: true },
      { name: "position", key: { position: 1 }, unique: true }
    ])
  })

  it("uses the seed's pool settings with majority writes and retryable writes", () => {
    expect(clientOptions(defaultPoolSettings)).toMatchObject({
      maxPoolSize: 50,
      minPoolSize: 10,
      maxIdleTimeMS: 30_000,
      serverSelectionTimeoutMS: 5_000,
      retryWrites: true,
      writeConcern: { w: "majority" }
    })
  })
})
