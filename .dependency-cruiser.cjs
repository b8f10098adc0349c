/**
 * The direction of dependencies, checked rather than remembered (`npm run lint`, `npm test`).
 * Type-only imports are free: they vanish at compile time and carry no behaviour.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle means two files are one concept, or one of them holds a contract that belongs lower.',
      from: { path: '^src/' },
      to: { circular: true, dependencyTypesNot: ['type-only'], viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'infrastructure-never-imports-domains',
      severity: 'error',
      comment:
        'db/, events/, graphql/ and shared/ serve every domain; only src/app/ (the composition root) knows them.',
      from: { path: '^src/(db|events|graphql|shared)/|^src/config\\.ts$' },
      to: { path: '^src/(modules|app)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'domains-never-import-the-app',
      severity: 'error',
      comment: 'The composition root wires the domains; a domain that imports it would depend on every other.',
      from: { path: '^src/modules/' },
      to: { path: '^src/app/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-foreign-internals',
      severity: 'error',
      comment:
        'A domain reaches another only through its face (index.ts) or its events (events.ts), never its model or service.',
      from: { path: '^src/modules/([^/]+)/' },
      to: {
        path: '^src/modules/[^/]+/',
        pathNot: ['^src/modules/$1/', '^src/modules/[^/]+/(index|events)\\.ts$'],
        dependencyTypesNot: ['type-only'],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/generated/' },
    // Type-only imports vanish at compile time: the graph holds only what runs.
    tsPreCompilationDeps: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
