// Logto's official Management API client, unmodified, against the local stack: users and hooks.
// Needs STACK_BASE_URL, STACK_CLIENT_ID and STACK_CLIENT_SECRET (scripts/with-stack sets them).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createManagementApi } from '@logto/api/management';

const { STACK_BASE_URL: baseUrl, STACK_CLIENT_ID: clientId, STACK_CLIENT_SECRET: clientSecret } = process.env;

/** The client as an app of Logto's would build it, for the stack's seeded app. */
function managementClient() {
  const { apiClient } = createManagementApi('default', {
    clientId,
    clientSecret,
    baseUrl,
    apiIndicator: 'https://default.logto.app/api',
  });
  return apiClient;
}

test('the official client manages a user from creation to deletion', async () => {
  assert.ok(baseUrl && clientId && clientSecret, 'run through scripts/with-stack');
  const apiClient = managementClient();
  const username = `node_${Date.now()}`;

  const created = await apiClient.POST('/api/users', {
    body: { username, primaryEmail: `${username}@example.com`, name: 'Node Client' },
  });
  assert.equal(created.response.status, 200, JSON.stringify(created.error));
  const userId = created.data.id;
  assert.match(userId, /^[0-9a-z]{12}$/);
  assert.equal(created.data.username, username);
  assert.equal(created.data.hasPassword, false);

  const fetched = await apiClient.GET('/api/users/{userId}', { params: { path: { userId } } });
  assert.equal(fetched.response.status, 200);
  assert.equal(fetched.data.primaryEmail, `${username}@example.com`);

  const searched = await apiClient.GET('/api/users', {
    params: { query: { 'search.username': username, 'mode.username': 'exact', page: 1, page_size: 20 } },
  });
  assert.equal(searched.response.status, 200);
  assert.deepEqual(searched.data.map((user) => user.id), [userId]);
  assert.equal(searched.response.headers.get('total-number'), '1');

  const updated = await apiClient.PATCH('/api/users/{userId}', {
    params: { path: { userId } },
    body: { name: 'Renamed', customData: { plan: 'pro' } },
  });
  assert.equal(updated.response.status, 200);
  assert.equal(updated.data.name, 'Renamed');
  assert.deepEqual(updated.data.customData, { plan: 'pro' });

  const password = await apiClient.PATCH('/api/users/{userId}/password', {
    params: { path: { userId } },
    body: { password: 'correct horse battery staple' },
  });
  assert.equal(password.response.status, 200);
  assert.equal(password.data.hasPassword, true);

  const verified = await apiClient.POST('/api/users/{userId}/password/verify', {
    params: { path: { userId } },
    body: { password: 'correct horse battery staple' },
  });
  assert.equal(verified.response.status, 204);
  const wrong = await apiClient.POST('/api/users/{userId}/password/verify', {
    params: { path: { userId } },
    body: { password: 'wrong' },
  });
  assert.equal(wrong.response.status, 422);
  assert.equal(wrong.error.code, 'session.invalid_credentials');

  const suspended = await apiClient.PATCH('/api/users/{userId}/is-suspended', {
    params: { path: { userId } },
    body: { isSuspended: true },
  });
  assert.equal(suspended.response.status, 200);
  assert.equal(suspended.data.isSuspended, true);

  const deleted = await apiClient.DELETE('/api/users/{userId}', { params: { path: { userId } } });
  assert.equal(deleted.response.status, 204);
  const gone = await apiClient.GET('/api/users/{userId}', { params: { path: { userId } } });
  assert.equal(gone.response.status, 404);
  assert.equal(gone.error.code, 'entity.not_found');
});

test('the official client creates, lists, updates and deletes a hook', async () => {
  assert.ok(baseUrl && clientId && clientSecret, 'run through scripts/with-stack');
  const apiClient = managementClient();

  const created = await apiClient.POST('/api/hooks', {
    body: {
      name: 'node client',
      events: ['User.Created', 'User.Deleted'],
      config: { url: 'https://hooks.example.com/users', headers: { 'x-source': 'node' }, retries: 3 },
      enabled: false,
    },
  });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  const id = created.data.id;
  assert.equal(created.data.name, 'node client');
  assert.deepEqual(created.data.events, ['User.Created', 'User.Deleted']);
  assert.equal(created.data.enabled, false);
  assert.equal(typeof created.data.signingKey, 'string');

  const listed = await apiClient.GET('/api/hooks');
  assert.equal(listed.response.status, 200);
  assert.ok(listed.data.some((hook) => hook.id === id));

  const updated = await apiClient.PATCH('/api/hooks/{id}', {
    params: { path: { id } },
    body: { name: 'renamed', events: ['User.Data.Updated'] },
  });
  assert.equal(updated.response.status, 200, JSON.stringify(updated.error));
  assert.equal(updated.data.name, 'renamed');
  assert.deepEqual(updated.data.events, ['User.Data.Updated']);

  const rotated = await apiClient.PATCH('/api/hooks/{id}/signing-key', { params: { path: { id } } });
  assert.equal(rotated.response.status, 200);
  assert.notEqual(rotated.data.signingKey, created.data.signingKey);

  const fetched = await apiClient.GET('/api/hooks/{id}', {
    params: { path: { id }, query: { includeExecutionStats: true } },
  });
  assert.equal(fetched.response.status, 200);
  assert.deepEqual(fetched.data.executionStats, { successCount: 0, requestCount: 0 });

  const logs = await apiClient.GET('/api/hooks/{id}/recent-logs', { params: { path: { id } } });
  assert.equal(logs.response.status, 200);
  assert.deepEqual(logs.data, []);

  const deleted = await apiClient.DELETE('/api/hooks/{id}', { params: { path: { id } } });
  assert.equal(deleted.response.status, 204);
  const gone = await apiClient.GET('/api/hooks/{id}', { params: { path: { id } } });
  assert.equal(gone.response.status, 404);
  assert.equal(gone.error.code, 'entity.not_exists_with_id');
});
