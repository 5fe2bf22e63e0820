import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP, type LookupFunction } from 'node:net'

/** Resolves a host name to every address it has (node:dns's lookup with `all: true`). */
export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>

const resolveWithDns: ResolveHost = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  )

/** Addresses that are not the public internet: loopback, private, link-local, CGNAT, documentation, multicast... */
const NON_PUBLIC = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4')
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6')

/** Whether an IP address is on the public internet (an IPv4-mapped IPv6 address is judged as IPv4). */
function isPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped) return isPublicAddress(mapped)
  const family = isIP(address)
  if (family === 0) return false
  return !NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

/** Why a webhook URL may not be called; the message says what to do about it. */
export class UnsafeWebhookUrlError extends Error {
  override name = 'UnsafeWebhookUrlError'
}

interface SsrfGuardOptions {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: http and non-public addresses are allowed (development, tests). */
  allowPrivateNetworks: boolean
  resolve?: ResolveHost
}

/**
 * Keeps webhook deliveries off our own network: a URL must be https and every address its host
 * resolves to must be public, checked when the URL is saved (checkUrl) and again at every delivery
 * (lookup, which the HTTP request uses to connect: the address checked is the address connected to,
 * so DNS that changes between the check and the connection cannot slip a private address in).
 */
export class SsrfGuard {
  private readonly resolve: ResolveHost

  constructor(private readonly options: SsrfGuardOptions) {
    this.resolve = options.resolve ?? resolveWithDns
  }

  /** Throws an UnsafeWebhookUrlError when the URL may not be called now. */
  async checkUrl(text: string): Promise<URL> {
    const url = this.checkScheme(text)
    const host = hostOf(url)
    if (isIP(host)) this.checkAddress(host)
    else this.checkAddresses(await this.addressesOf(host))
    return url
  }

  /** Parses the URL and checks its scheme; the host is checked by checkUrl or at connection (lookup). */
  checkScheme(text: string): URL {
    let url: URL
    try {
      url = new URL(text)
    } catch {
      throw new UnsafeWebhookUrlError('is not a URL')
    }
    const allowed = this.options.allowPrivateNetworks ? ['https:', 'http:'] : ['https:']
    if (!allowed.includes(url.protocol))
      throw new UnsafeWebhookUrlError(
        this.options.allowPrivateNetworks ? 'must be an http or https URL' : 'must be an https URL',
      )
    const host = hostOf(url)
    if (isIP(host)) this.checkAddress(host)
    return url
  }

  /** A lookup for http.request: resolves like dns.lookup, refusing non-public addresses. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.addressesOf(hostname)
      .then((addresses) => {
        this.checkAddresses(addresses)
        const wanted = options.family ? addresses.filter((a) => a.family === options.family) : addresses
        if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, wanted)
        const [first] = wanted
        if (!first) throw new UnsafeWebhookUrlError(`${hostname} has no address of the family asked for`)
        callback(null, first.address, first.family)
      })
      .catch((error: Error) => callback(error as NodeJS.ErrnoException, '', 0))
  }

  private async addressesOf(host: string): Promise<LookupAddress[]> {
    try {
      const addresses = await this.resolve(host)
      if (addresses.length === 0) throw new Error('no address')
      return addresses
    } catch {
      throw new UnsafeWebhookUrlError(`the host ${host} does not resolve; check the URL`)
    }
  }

  private checkAddresses(addresses: LookupAddress[]): void {
    for (const { address } of addresses) this.checkAddress(address)
  }

  private checkAddress(address: string): void {
    if (this.options.allowPrivateNetworks || isPublicAddress(address)) return
    throw new UnsafeWebhookUrlError(
      `resolves to ${address}, which is not a public address (loopback, private, link-local or reserved); ` +
        'use a publicly reachable https URL',
    )
  }
}

/** The URL's host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1')
}
