import { describe, expect, it } from '@jest/globals';
import { GraphQLError } from 'graphql';
import { maskError } from '../src/graphql/errors.js';

describe('error masking', () => {
  it('hides the details of an unexpected error', () => {
    const original = new GraphQLError('connection refused to 10.0.0.5', {
      originalError: new Error('connection refused to 10.0.0.5'),
      path: ['customer'],
    });
    const masked = maskError({ ...original.toJSON(), extensions: { code: 'INTERNAL_SERVER_ERROR' } }, original);
    expect(masked).toEqual({
      message: 'Internal server error',
      path: ['customer'],
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  });

  it('keeps errors meant for the client as they are', () => {
    const err = new GraphQLError('intervalSeconds must be between 1 and 60', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(maskError(err.toJSON(), err)).toEqual(err.toJSON());
  });

  it('marks graphql-js request errors (no code, no cause) as BAD_USER_INPUT', () => {
    const err = new GraphQLError('Variable "$id" of required type "ID!" was not provided.');
    expect(maskError(err.toJSON(), err).extensions).toEqual({ code: 'BAD_USER_INPUT' });
  });
});
