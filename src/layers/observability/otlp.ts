/** `OTEL_EXPORTER_OTLP_ENDPOINT` is the collector's base URL; traces go to its `/v1/traces`. */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, "")}/v1/traces`
