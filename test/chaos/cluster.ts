import { buildServer, type ServerProcess, startServer } from '../helpers/server-process.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * Several real server processes (the built dist/src/server.js) on one database, each with its own
 * environment, that can be SIGKILLed and restarted on the same port, so clients keep their URLs.
 */
export class Cluster {
  /** Restarts after a kill, in all. */
  restarts = 0
  private readonly peakRss: number[]
  /** What earlier lives of each server wrote. */
  private readonly earlierOutput: string[]

  private constructor(
    private readonly t: Teardown,
    private readonly envs: Record<string, string>[],
    private readonly processes: ServerProcess[],
  ) {
    this.peakRss = processes.map(() => 0)
    this.earlierOutput = processes.map(() => '')
  }

  /** Builds the server, then starts one process per environment and waits until all are ready. */
  static async start(t: Teardown, envs: Record<string, string>[]): Promise<Cluster> {
    await buildServer()
    const processes = await Promise.all(envs.map((env) => startServer(t, env, { built: true })))
    await Promise.all(processes.map((p) => p.ready()))
    return new Cluster(t, envs, processes)
  }

  get size(): number {
    return this.processes.length
  }

  /** Whether each server process is running now. */
  running(): boolean[] {
    return this.processes.map((p) => p.running())
  }

  urls(): string[] {
    return this.processes.map((p) => p.url)
  }

  /** SIGKILL: no shutdown, no cleanup, requests in flight are cut. Resolves once the process is gone. */
  async kill(index: number): Promise<void> {
    const target = this.process(index)
    await this.notePeakRss(index)
    target.kill('SIGKILL')
    await target.exitCode()
  }

  /** Starts the server again on the port it had, with its environment, and waits until it is ready. */
  async restart(index: number): Promise<void> {
    const { port } = this.process(index)
    this.earlierOutput[index] += `${this.process(index).output()}\n--- killed; restarted ---\n`
    const next = await startServer(this.t, this.envs[index] as Record<string, string>, { built: true, port })
    this.processes[index] = next
    this.restarts++
    await next.ready()
  }

  /** Every server that is not running is started again. */
  async restartStopped(): Promise<void> {
    await Promise.all(this.processes.map((p, i) => (p.running() ? undefined : this.restart(i))))
  }

  /** The peak RSS (VmHWM) of each server over all its lives, in bytes. */
  async peakRssBytes(): Promise<number[]> {
    await Promise.all(this.processes.map((_, i) => this.notePeakRss(i)))
    return [...this.peakRss]
  }

  /** Everything server `index` wrote to stdout and stderr, over all its lives. */
  output(index: number): string {
    return this.earlierOutput[index] + this.process(index).output()
  }

  private async notePeakRss(index: number): Promise<void> {
    const rss = await this.process(index).peakRss()
    this.peakRss[index] = Math.max(this.peakRss[index] ?? 0, rss ?? 0)
  }

  private process(index: number): ServerProcess {
    const found = this.processes[index]
    if (!found) throw new Error(`no server ${index}`)
    return found
  }
}
