/** The departments a crew call belongs to: config (Flex business roles per department) and crew share them. */
export const departments = ['sound', 'lights', 'video'] as const
export type Department = (typeof departments)[number]
