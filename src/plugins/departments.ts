import fp from 'fastify-plugin'
import { z } from 'zod'
import { configuredDepartmentSchema } from '../schemas/crew.ts'

export interface DepartmentsPluginOptions {
  /** CREW_DEPARTMENTS. */
  departments: readonly string[]
}

/**
 * Narrows every route's `department` path or query parameter to the configured departments
 * (CREW_DEPARTMENTS): the route files declare any well-formed name (departmentSchema), and here, once
 * the configuration is known, it becomes the enum the running service accepts, so validation and the
 * OpenAPI document say the same thing. Another department is a 400 naming the parameter.
 */
export default fp<DepartmentsPluginOptions>(
  async function departmentsPlugin(app, { departments }) {
    const configured = configuredDepartmentSchema(departments)
    app.addHook('onRoute', (route) => {
      if (!route.schema) return
      for (const part of ['params', 'querystring'] as const) {
        const schema = route.schema[part]
        if (!(schema instanceof z.ZodObject) || !('department' in schema.shape)) continue
        const optional = schema.shape.department instanceof z.ZodOptional
        route.schema[part] = schema.safeExtend({ department: optional ? configured.optional() : configured })
      }
    })
  },
  { name: 'departments' },
)
