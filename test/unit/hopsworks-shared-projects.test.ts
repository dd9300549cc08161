import { describe, expect, it } from 'vitest';
import type { HopsworksProject } from '../../src/hopsworks/index.js';
import { withSharedProjectList } from '../../src/usage/hopsworks-usage.js';

const project = (id: number, owner: string) => ({ id, name: `p${id}`, owner }) as unknown as HopsworksProject;

describe('withSharedProjectList', () => {
  it('should list the cluster once for every customer and answer each with their own projects', async () => {
    let listings = 0;
    const client = withSharedProjectList({
      findUserBySubject: async () => undefined,
      getProjectUsage: async () => {
        throw new Error('not used');
      },
      listProjects: async () => {
        listings++;
        return [project(1, 'ada'), project(2, 'bob'), project(3, 'ada')];
      },
    });
    const [ada, bob, eve] = await Promise.all([
      client.listUserProjects({ username: 'ada' }),
      client.listUserProjects({ username: 'bob' }),
      client.listUserProjects({ username: 'eve' }),
    ]);
    expect(ada.map((p) => p.id)).toEqual([1, 3]);
    expect(bob.map((p) => p.id)).toEqual([2]);
    expect(eve).toEqual([]);
    expect(listings).toBe(1);
  });

  it('should not keep a failed listing: the next customer asks again', async () => {
    let listings = 0;
    const client = withSharedProjectList({
      findUserBySubject: async () => undefined,
      getProjectUsage: async () => {
        throw new Error('not used');
      },
      listProjects: async () => {
        listings++;
        if (listings === 1) throw new Error('cluster down');
        return [project(1, 'ada')];
      },
    });
    await expect(client.listUserProjects({ username: 'ada' })).rejects.toThrow('cluster down');
    expect(await client.listUserProjects({ username: 'ada' })).toHaveLength(1);
    expect(listings).toBe(2);
  });
});
