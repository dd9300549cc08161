import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/paths.js';

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: PROJECT_ROOT,
      // Only what the test gives: nothing from the developer's shell leaks in.
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the CLI with bad configuration', () => {
  it('should name every offending field, exit non-zero, print no stack trace and no secret', async () => {
    const secret = 'sk_test_DO_NOT_PRINT_ME_0123456789';
    const { code, stderr, stdout } = await runCli(['api'], {
      DATABASE_URL: 'not-a-url',
      PORT: 'eighty',
      STRIPE_SECRET_KEY: secret,
    });
    expect(code).toBe(78);
    for (const field of ['DATABASE_URL', 'PORT', 'STRIPE_SECRET_KEY', 'CRON_SECRET', 'ADMIN_CREDENTIALS']) {
      expect(stderr).toContain(field);
    }
    expect(stderr).not.toMatch(/\n\s+at /); // no stack frames
    expect(stderr + stdout).not.toContain(secret);
  });

  it('should refuse an unknown command with the list of commands', async () => {
    const { code, stderr } = await runCli(['deploy-to-mars'], {});
    expect(code).toBe(2);
    expect(stderr).toContain('unknown command: deploy-to-mars');
    expect(stderr).toContain('migrate');
  });
});
