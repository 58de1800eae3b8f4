// The C side of the scripting environment (Sources/Needletail/Scripting): what must run on Lua's side of
// its error handling. Lua reports errors with longjmp, which must never cross a Swift frame, so every
// function Lua calls is C; the ones that need the server (redis.call, redis.log, ...) call a Swift
// callback that returns a status instead of raising, and the C wrapper raises for it.
//
// The sandbox matches redis-server 7.0's: the libraries Redis loads (base, table, string, math, cjson,
// struct, cmsgpack, bit; debug only for the error handler), the same globals, read-only globals and
// library tables ("Attempt to modify a readonly table"), errors for nonexistent globals, Redis's pcall,
// math.random on Redis's rand48 sequence. Stock Lua 5.1 has no read-only tables, so they are emulated
// with proxies (see sandbox.c).
#ifndef NEEDLETAIL_CSCRIPTING_H
#define NEEDLETAIL_CSCRIPTING_H

#include <stddef.h>
#include <stdint.h>

typedef struct lua_State lua_State;

/// What the server provides to scripts. The callbacks never touch the Lua stack: the C side converts
/// arguments before and results after, so a Lua error can never unwind through Swift.
typedef struct {
    /// Runs a command for redis.call/pcall. Returns 0 with the RESP reply in *reply, 1 with an error message
    /// for the script in *reply ("Unknown Redis command called from script"), or 2 when no script runs.
    int (*call)(void *context, int argc, const char *const *argv, const size_t *lengths, const char **reply,
                size_t *reply_length);
    /// redis.log, already checked: level 0-3 and the arguments joined by spaces.
    void (*log)(void *context, int level, const char *message, size_t length);
    /// redis.setresp (2 or 3) and redis.set_repl (flags 0-3), already checked: 0, or 2 when no script runs.
    int (*setresp)(void *context, int resp);
    int (*set_repl)(void *context, int flags);
    /// redis.sha1hex: 40 lowercase hex digits into `out`.
    void (*sha1hex)(void *context, const char *data, size_t length, char *out);
    /// redis.acl_check_cmd: -1 for an unknown command, 0 denied, 1 allowed, 2 when no script runs.
    int (*acl_check_cmd)(void *context, int argc, const char *const *argv, const size_t *lengths);
    /// Called every 100,000 instructions while a script runs: returns 1 to kill the script.
    int (*interrupt)(void *context);
    /// redis.register_function during FUNCTION LOAD (arguments already checked): 0 when registered (the
    /// function is in the registry under `ref`), 1 with an error message, 2 when no library is loading.
    int (*register_function)(void *context, const char *name, size_t name_length, const char *description,
                             size_t description_length, int has_description, uint32_t flags, int ref,
                             const char **error, size_t *error_length);
} nt_lua_callbacks;

/// Which environment a state gets: EVAL's (KEYS/ARGV globals) or FUNCTION's (a load-time API with only
/// redis.register_function and redis.log; functions get keys and args as arguments).
#define NT_LUA_EVAL 0
#define NT_LUA_FUNCTIONS 1

/// Script flags as bits, shared with Swift's ScriptFlags.
#define NT_SCRIPT_NO_WRITES 1u
#define NT_SCRIPT_ALLOW_OOM 2u
#define NT_SCRIPT_ALLOW_STALE 4u
#define NT_SCRIPT_NO_CLUSTER 8u
#define NT_SCRIPT_ALLOW_CROSS_SLOT 16u

/// A new Lua state with Redis's environment, `context` kept for `nt_lua_context`. `version` and
/// `version_num` are redis.REDIS_VERSION / REDIS_VERSION_NUM. NULL if Lua could not allocate.
lua_State *nt_lua_open(const nt_lua_callbacks *callbacks, void *context, const char *version, int version_num,
                       int mode);
void nt_lua_close(lua_State *L);
void *nt_lua_context(lua_State *L);

/// Compiles `body` as chunk `chunkname` ("@user_script") and leaves the function on the stack (0), or
/// leaves the error message (non-zero).
int nt_lua_load(lua_State *L, const char *body, size_t length, const char *chunkname);

/// Stores the function on top of the stack in the registry under `name` (popping it), and pushes it back.
void nt_lua_registry_set(lua_State *L, const char *name);
/// Pushes the registry's `name` (nil if absent); returns whether it is a function.
int nt_lua_registry_get(lua_State *L, const char *name);

/// Sets the global `name` (KEYS, ARGV) to an array of `count` strings, bypassing the read-only globals.
void nt_lua_set_global_array(lua_State *L, const char *name, const char *const *strings, const size_t *lengths,
                             int count);
/// Pushes a new array of `count` strings (a function's keys and args).
void nt_lua_push_array(lua_State *L, const char *const *strings, const size_t *lengths, int count);

/// FUNCTION LOAD's run of a library (NT_LUA_FUNCTIONS states): compiles `code` as "@user_function" and runs
/// it with only the load API as globals, for at most `timeout_ms` (0: no limit). Returns 0, or 1 with the
/// error text on top of the stack ("Error compiling function: ..." / "Error registering functions: ...").
int nt_lua_load_library(lua_State *L, const char *code, size_t length, int timeout_ms);
/// A registered function, by its registry reference.
void nt_lua_push_ref(lua_State *L, int ref);
void nt_lua_unref(lua_State *L, int ref);

/// Runs the function on top of the stack (below it: `nargs` arguments) with Redis's error handler, with the
/// interrupt hook armed when `hook` is set. Returns 0 with the result on top, or non-zero with the error
/// object on top; the handler stays below it, as in Redis while it converts the result (so a nested result
/// meets "reached lua stack limit" at the same depth): the caller pops both.
int nt_lua_run(lua_State *L, int nargs, int hook);

/// Formats a double as Redis's "%.17g".
int nt_format_double17(char *buffer, size_t size, double value);

/// Redis's rand48 (redisLrand48/redisSrand48), per Lua state.
int32_t nt_lua_rand48(lua_State *L);

// Accessors for what Lua defines as macros.
int nt_lua_gettop(lua_State *L);
void nt_lua_settop(lua_State *L, int index);
void nt_lua_pop(lua_State *L, int n);
int nt_lua_type(lua_State *L, int index);
const char *nt_lua_tolstring(lua_State *L, int index, size_t *length);
double nt_lua_tonumber(lua_State *L, int index);
int nt_lua_toboolean(lua_State *L, int index);
void nt_lua_pushlstring(lua_State *L, const char *s, size_t length);
void nt_lua_pushnumber(lua_State *L, double n);
void nt_lua_pushnil(lua_State *L);
void nt_lua_pushboolean(lua_State *L, int b);
/// Raw field access (no metamethods, so nothing can raise): pushes table[key].
void nt_lua_rawget_field(lua_State *L, int index, const char *key);
void nt_lua_rawgeti(lua_State *L, int index, int n);
/// lua_next on the table at `index`: 1 with key and value pushed, 0 at the end.
int nt_lua_next(lua_State *L, int index);
void nt_lua_pushvalue(lua_State *L, int index);
int nt_lua_checkstack(lua_State *L, int extra);
/// Kilobytes used by the Lua heap, times 1024 (Redis's used_memory_lua).
size_t nt_lua_memory(lua_State *L);
/// An incremental GC step (Redis runs one every 50 scripts).
void nt_lua_gc_step(lua_State *L, int size);
/// Lua type tags (as lua.h's).
#define NT_LUA_TNIL 0
#define NT_LUA_TBOOLEAN 1
#define NT_LUA_TNUMBER 3
#define NT_LUA_TSTRING 4
#define NT_LUA_TTABLE 5
#define NT_LUA_TFUNCTION 6

#endif
