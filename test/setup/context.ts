// What the global setup hands to every test file (through vitest's provide/inject).
declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCliPath: string;
    testServerPath: string;
    stripeMockPath: string;
    /** Superuser URL of the test Postgres server (any database name can be swapped in). */
    postgresAdminUrl: string;
    /** A database with every migration applied, cloned for each test database. */
    templateDatabase: string;
  }
}

export {};
