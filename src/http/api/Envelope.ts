import { HttpApiMiddleware } from "effect/http-api"
import {
  InternalError,
  MalformedRequest,
  NotFound,
  PayloadTooLarge,
  StoreUnavailable,
  ValidationError
} from "../errors.ts"

/**
 * The errors every endpoint can answer besides its own, in the one envelope: a request that does not
 * decode (`ValidationError`, `MalformedRequest`), a body over the limit, a missing resource, an event
 * store that did not answer in time (`StoreUnavailable`, 503 with `Retry-After`), and any other defect
 * (`InternalError`). Declared as a middleware of the whole API so that every endpoint's schema
 * encodes them and the OpenAPI document lists them; `ErrorEnvelopeLive` (src/http/middleware.ts)
 * turns the platform's decode failures and defects into them.
 *
 * Groups added to the API after `FocusForgeApi` is built (test and bench servers) add it themselves:
 * `group.middleware(ErrorEnvelope)`.
 */
export class ErrorEnvelope extends HttpApiMiddleware.Service<ErrorEnvelope>()(
  "focusforge/http/ErrorEnvelope",
  {
    error: [ValidationError, MalformedRequest, NotFound, PayloadTooLarge, StoreUnavailable, InternalError]
  }
) {}
