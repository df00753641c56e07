/*
** brake_status.h: the one list of brake's status codes.
**
** X(NAME, value, "message"). From this list come the C enum in brake.h, the
** name table behind brake_status_name(), the addon's error table and the
** TypeScript `code` union (test/js checks that they agree). Values are stable:
** add new codes at the end, never renumber.
*/
#ifndef BRAKE_STATUS_H
#define BRAKE_STATUS_H

#define BRAKE_STATUS_MAP(X)                                                        \
  X(OK, 0, "ok")                                                                   \
  X(MISUSE, 1, "library misuse (NULL handle or call in the wrong state)")           \
  X(INVALID_ARGUMENT, 2, "invalid argument")                                       \
  X(NO_MEMORY, 3, "out of memory")                                                 \
  X(COMPILE_ERROR, 4, "the source does not compile")                               \
  X(UNKNOWN_FUNCTION, 5, "no function with that name")                             \
  X(DUPLICATE_CALL_ID, 6, "a live call already has that id")                       \
  X(NOT_FOUND, 7, "no live call with that id")                                     \
  X(ENGINE_CLOSED, 8, "the engine is closed")                                      \
  X(CANCELLED, 9, "the call was cancelled")                                        \
  X(TIMEOUT, 10, "the call's deadline passed")                                     \
  X(SCRIPT_ERROR, 11, "the script failed")                                         \
  X(INTERNAL, 12, "internal error")                                                \
  X(HTTP_ERROR, 13, "an HTTP request failed")                                      \
  X(LLM_ERROR, 14, "an LLM call failed")

#endif /* BRAKE_STATUS_H */
