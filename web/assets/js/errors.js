// errors.js - validation errors as the server reports them (422: [{path, message}]), shown as
// a list with each path beside its message. Shared by the pages that send a definition or a
// run's overrides (tests, start, import), so none of them imports another page for it.
import { h } from './dom.js';

/** The list of validation errors from a 422 answer, each path beside its message. */
export function errorList(errors) {
  return h('ul', { class: 'error-list' }, errors.map((e) =>
    h('li', e.path ? h('code', { class: 'err-path' }, e.path) : null, e.path ? ': ' : null, e.message)));
}
