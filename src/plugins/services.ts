import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import { createTransactionRunner, transactionOptionsFrom } from '../db/transaction.ts'
import { CalendarService } from '../services/calendar-service.ts'

export interface Services {
  calendars: CalendarService
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services
  }
}

export interface ServicesPluginOptions {
  config: Config
  /** Replaces individual services, e.g. to inject faults in tests. */
  overrides?: Partial<Services>
}

/** The composition root: every service is built here, from the app's database and config. */
export default fp<ServicesPluginOptions>(
  async function servicesPlugin(app, { config, overrides }) {
    const { prisma } = app.db
    const runInTransaction = createTransactionRunner(prisma, transactionOptionsFrom(config))
    app.decorate('services', {
      calendars: new CalendarService({ prisma, runInTransaction }),
      ...overrides,
    })
  },
  { name: 'services', dependencies: ['database'] },
)
