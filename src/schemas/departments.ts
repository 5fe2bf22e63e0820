/**
 * The departments a crew call may be for. config (CREW_DEPARTMENTS, Flex business roles per department),
 * the crew schemas and the departments plugin share them, so they sit below every layer.
 */
import { z } from 'zod'

/** A department's name as CREW_DEPARTMENTS lists it: lower-case letters, digits and '-', from a letter. */
export const DEPARTMENT_NAME = /^[a-z][a-z0-9-]{0,31}$/
export const DEFAULT_DEPARTMENTS = ['sound', 'lights', 'video'] as const
/** The most departments CREW_DEPARTMENTS may list: a job has at most this many crew calls. */
export const MAX_DEPARTMENTS = 64
/** One of CREW_DEPARTMENTS (Flex tenants name their own departments). */
export type Department = string

/**
 * Any well-formed department name. Routes accept only the configured ones: src/plugins/departments.ts
 * narrows every `department` parameter to configuredDepartmentSchema, which the OpenAPI document shows.
 */
export const departmentSchema = z
  .string()
  .max(32)
  .regex(DEPARTMENT_NAME, "must be a department name: lower-case letters, digits and '-', from a letter")

/** The departments the running service accepts (CREW_DEPARTMENTS), as an enum. */
export const configuredDepartmentSchema = (departments: readonly string[]) =>
  z
    .enum(departments as [string, ...string[]])
    .describe('One of the departments this service is configured with (CREW_DEPARTMENTS).')
