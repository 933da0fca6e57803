import { Option } from "effect"
import type { HttpServerRequest } from "effect/http"
import { IpNetwork, NetAddress } from "effect/net"
import type { TrustedProxies } from "../layers/config/AppConfig.ts"

/**
 * The address a request came from, for per-client limits (the login throttle).
 *
 * The socket's peer, unless that peer is a trusted proxy (`TRUSTED_PROXIES`): then `X-Forwarded-For` is
 * read from the right, past every trusted proxy, and the first untrusted address is the client. Entries
 * left of it were written by the client itself and prove nothing; a proxy such as nginx appends the
 * address it saw (`$proxy_add_x_forwarded_for`), so the right-most untrusted entry is the one a client
 * cannot forge. Without trusted proxies the header is ignored entirely: anyone could send it.
 *
 * Addresses come back canonical (an IPv4-mapped IPv6 peer such as `::ffff:127.0.0.2` as `127.0.0.2`), so
 * one client is one key whichever way the socket reports it. A peer the server cannot name (no socket
 * address) is `"unknown"`.
 */

const parse = (text: string | undefined): NetAddress.IpAddress | undefined => {
  if (text === undefined) return undefined
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text
  const parsed = NetAddress.ipFromString(bare)
  return parsed._tag === "Success" ? NetAddress.toCanonical(parsed.success) : undefined
}

const isTrusted = (trusted: TrustedProxies, address: NetAddress.IpAddress): boolean =>
  trusted.some((network) => IpNetwork.contains(network, address))

export const UNKNOWN_CLIENT = "unknown"

/** The client address from the socket peer and the raw `X-Forwarded-For` header (pure; see above). */
export const resolveClientAddress = (
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: TrustedProxies
): string => {
  const socket = parse(peer)
  if (socket === undefined) return peer ?? UNKNOWN_CLIENT
  if (forwardedFor === undefined || !isTrusted(trusted, socket)) return NetAddress.formatIp(socket)
  // Every hop so far was trusted; `client` is the last (left-most) one seen.
  let client = socket
  for (const entry of forwardedFor.split(",").reverse()) {
    const address = parse(entry.trim())
    // Not an address: whatever wrote it is not a proxy we know; keep the last hop we could name.
    if (address === undefined) break
    client = address
    if (!isTrusted(trusted, address)) break
  }
  return NetAddress.formatIp(client)
}

/** The client address of a request: its transport peer and its `X-Forwarded-For`, as above. */
export const clientAddress = (
  request: HttpServerRequest.HttpServerRequest,
  trusted: TrustedProxies
): string =>
  resolveClientAddress(
    Option.getOrUndefined(request.peerAddress),
    request.headers["x-forwarded-for"],
    trusted
  )
