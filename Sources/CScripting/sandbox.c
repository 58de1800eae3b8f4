// Redis's Lua environment on stock Lua 5.1: the libraries, the redis.* table, the sandbox and the
// conversions between RESP and Lua values (see include/cscripting.h).
//
// Read-only tables. Redis 7.0 patches its Lua so that globals and library tables are read-only. Stock Lua
// cannot mark a table read-only, so scripts see *views*: an empty table whose metatable reads through to
// the real table (`__index`) and refuses writes (`__newindex`, raising "Attempt to modify a readonly
// table" with the script's position, as the patched VM does). The thread's globals table is itself the view
// of the real globals, so every function compiled later (scripts, loadstring) gets it as its environment.
// The functions that bypass metamethods (rawset, rawget, next, pairs, ipairs, setmetatable, getmetatable,
// table.insert/remove/sort/setn) are wrapped to see through views and to refuse writes to them without a
// position (as Redis's C-level check does). The real globals table raises "Script attempted to access
// nonexistent global variable" for names it lacks.
#include "cscripting.h"
#include "cscripting_libs.h"

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>
#include <lua-bitop.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

// Registry keys (addresses are unique).
static char key_context, key_callbacks, key_views, key_reals, key_globals, key_rand, key_handler, key_load_api,
    key_globals_view, key_load_deadline, key_wrappers;

static const char readonly_error[] = "Attempt to modify a readonly table";

static void push_error(lua_State *L, const char *error, size_t length, int ignore_stats);
static int push_reply(lua_State *L, const char *reply, size_t length);

// MARK: - Small helpers

static void registry_push(lua_State *L, void *key) {
    lua_pushlightuserdata(L, key);
    lua_rawget(L, LUA_REGISTRYINDEX);
}

static void registry_store(lua_State *L, void *key) {  // registry[key] = top (popped)
    lua_pushlightuserdata(L, key);
    lua_insert(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
}

static const nt_lua_callbacks *callbacks(lua_State *L) {
    registry_push(L, &key_callbacks);
    const nt_lua_callbacks *cb = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return cb;
}

void *nt_lua_context(lua_State *L) {
    registry_push(L, &key_context);
    void *context = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return context;
}

// MARK: - Error tables

static void push_error(lua_State *L, const char *error, size_t length, int ignore_stats) {
    // "-CODE message" keeps its code; a message without '-' gets "ERR"; trailing CR/LF are trimmed.
    const char *code = "ERR";
    size_t code_length = 3;
    const char *message = error;
    size_t message_length = length;
    if (length > 0 && error[0] == '-') {
        const char *space = memchr(error, ' ', length);
        if (space) {
            code = error + 1;
            code_length = (size_t)(space - error - 1);
            message = space + 1;
            message_length = length - (size_t)(message - error);
        } else {
            message = error + 1;
            message_length = length - 1;
        }
    }
    // Redis trims CR/LF from both ends of the message (sdstrim).
    while (message_length > 0 && (message[0] == '\r' || message[0] == '\n')) { message++; message_length--; }
    while (message_length > 0 && (message[message_length - 1] == '\r' || message[message_length - 1] == '\n'))
        message_length--;
    luaL_Buffer b;
    lua_newtable(L);
    lua_pushstring(L, "err");
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, code, code_length);
    luaL_addchar(&b, ' ');
    luaL_addlstring(&b, message, message_length);
    luaL_pushresult(&b);
    lua_rawset(L, -3);
    if (ignore_stats) {
        lua_pushstring(L, "ignore_error_stats_update");
        lua_pushboolean(L, 1);
        lua_rawset(L, -3);
    }
}

static int raise_error_table(lua_State *L, const char *message) {
    push_error(L, message, strlen(message), 0);
    return lua_error(L);
}

// MARK: - redis.* functions that call the server

/// Redis's argument conversion for redis.call and acl_check_cmd: strings as they are, numbers as "%.17g"
/// (not Lua's %.14g). Returns the count, 0 when there are none, -1 when one is neither (an error table is
/// then pushed). `argv`/`lengths` are allocated with room for the count; the caller frees both.
typedef struct {
    int argc;
    const char **argv;
    size_t *lengths;
    char *numbers;
    // Room for the common case without allocating.
    const char *small_argv[16];
    size_t small_lengths[16];
    char small_numbers[16 * 32];
} call_arguments;

static void free_arguments(call_arguments *a) {
    if (a->argv != a->small_argv) {
        free(a->argv);
        free(a->lengths);
        free(a->numbers);
    }
    a->argv = NULL;
}

static int collect_arguments(lua_State *L, call_arguments *a) {
    a->argc = 0;
    int argc = lua_gettop(L);
    if (argc == 0) {
        a->argv = a->small_argv;
        push_error(L, "Please specify at least one argument for this redis lib call", 60, 0);
        return -1;
    }
    if (argc <= 16) {
        a->argv = a->small_argv;
        a->lengths = a->small_lengths;
        a->numbers = a->small_numbers;
    } else {
        a->argv = malloc(sizeof(char *) * (size_t)argc);
        a->lengths = malloc(sizeof(size_t) * (size_t)argc);
        a->numbers = malloc(32 * (size_t)argc);
    }
    if (!a->argv || !a->lengths || !a->numbers) {
        free_arguments(a);
        push_error(L, "out of memory", 13, 0);
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        int type = lua_type(L, i + 1);
        if (type == LUA_TNUMBER) {
            char *buffer = a->numbers + 32 * i;
            a->lengths[i] = (size_t)snprintf(buffer, 32, "%.17g", (double)lua_tonumber(L, i + 1));
            a->argv[i] = buffer;
        } else if (type == LUA_TSTRING) {
            a->argv[i] = lua_tolstring(L, i + 1, &a->lengths[i]);
        } else {
            free_arguments(a);
            push_error(L, "Lua redis lib command arguments must be strings or integers", 59, 0);
            return -1;
        }
    }
    a->argc = argc;
    return argc;
}

/// redis.call (raise = 1) and redis.pcall (raise = 0).
static int call_command(lua_State *L, int raise) {
    call_arguments a;
    if (collect_arguments(L, &a) < 0) return raise ? lua_error(L) : 1;
    const char *reply = NULL;
    size_t length = 0;
    int status = callbacks(L)->call(nt_lua_context(L), a.argc, a.argv, a.lengths, &reply, &length);
    free_arguments(&a);  // the strings stay on the stack until the function returns
    if (status == 2) return raise_error_table(L, "redis.call/pcall can only be called inside a script invocation");
    if (status == 1) {
        push_error(L, reply, length, 1);
        return raise ? lua_error(L) : 1;
    }
    int is_error = push_reply(L, reply, length);
    return raise && is_error ? lua_error(L) : 1;
}

static int api_call(lua_State *L) { return call_command(L, 1); }
static int api_pcall(lua_State *L) { return call_command(L, 0); }

static int api_acl_check_cmd(lua_State *L) {
    call_arguments a;
    if (collect_arguments(L, &a) < 0) return lua_error(L);
    int allowed = callbacks(L)->acl_check_cmd(nt_lua_context(L), a.argc, a.argv, a.lengths);
    free_arguments(&a);
    if (allowed == 2) return raise_error_table(L, "redis.acl_check_cmd can only be called inside a script invocation");
    if (allowed < 0) return raise_error_table(L, "Invalid command passed to redis.acl_check_cmd()");
    lua_pushboolean(L, allowed);
    return 1;
}

static int api_log(lua_State *L) {
    int argc = lua_gettop(L);
    if (argc < 2) return raise_error_table(L, "redis.log() requires two arguments or more.");
    if (!lua_isnumber(L, 1)) return raise_error_table(L, "First argument must be a number (log level).");
    int level = (int)lua_tonumber(L, 1);
    if (level < 0 || level > 3) return raise_error_table(L, "Invalid debug level.");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int first = 1;
    for (int i = 2; i <= argc; i++) {
        size_t length;
        const char *s = lua_tolstring(L, i, &length);  // numbers are converted in place; others skipped
        if (!s) continue;
        if (!first) luaL_addchar(&b, ' ');
        luaL_addlstring(&b, s, length);
        first = 0;
    }
    luaL_pushresult(&b);
    size_t length;
    const char *message = lua_tolstring(L, -1, &length);
    callbacks(L)->log(nt_lua_context(L), level, message, length);
    return 0;
}

static int api_setresp(lua_State *L) {
    if (lua_gettop(L) != 1) return raise_error_table(L, "redis.setresp() requires one argument.");
    int resp = (int)lua_tonumber(L, 1);
    if (resp != 2 && resp != 3) return raise_error_table(L, "RESP version must be 2 or 3.");
    if (callbacks(L)->setresp(nt_lua_context(L), resp) == 2)
        return raise_error_table(L, "redis.setresp can only be called inside a script invocation");
    return 0;
}

static int api_set_repl(lua_State *L) {
    if (lua_gettop(L) != 1) return raise_error_table(L, "redis.set_repl() requires two arguments.");
    int flags = (int)lua_tonumber(L, 1);
    if ((flags & ~3) != 0)
        return raise_error_table(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
    if (callbacks(L)->set_repl(nt_lua_context(L), flags) == 2)
        return raise_error_table(L, "redis.set_repl can only be called inside a script invocation");
    return 0;
}

static int api_sha1hex(lua_State *L) {
    if (lua_gettop(L) != 1) return raise_error_table(L, "wrong number of arguments");
    size_t length = 0;
    const char *data = lua_tolstring(L, 1, &length);
    char digest[41];
    callbacks(L)->sha1hex(nt_lua_context(L), data ? data : "", data ? length : 0, digest);
    lua_pushlstring(L, digest, 40);
    return 1;
}

// MARK: - redis.* functions that need nothing from the server

static int api_error_reply(lua_State *L) {
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error(L, "wrong number or type of arguments", 33, 0);
        return 1;
    }
    size_t length;
    const char *error = lua_tolstring(L, -1, &length);
    if (length > 0 && error[0] == '-') {
        push_error(L, error, strlen(error), 0);  // Redis copies it as a C string
    } else {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addchar(&b, '-');
        luaL_addstring(&b, error);
        luaL_pushresult(&b);
        size_t full_length;
        const char *full = lua_tolstring(L, -1, &full_length);
        push_error(L, full, full_length, 0);
    }
    return 1;
}

static int api_status_reply(lua_State *L) {
    if (lua_gettop(L) != 1 || lua_type(L, -1) != LUA_TSTRING) {
        push_error(L, "wrong number or type of arguments", 33, 0);
        return 1;
    }
    lua_newtable(L);
    lua_pushstring(L, "ok");
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    return 1;
}

static int api_replicate_commands(lua_State *L) {
    lua_pushboolean(L, 1);
    return 1;
}

static int api_breakpoint(lua_State *L) {  // no debugger: as Redis when LDB is not active
    lua_pushboolean(L, 0);
    return 1;
}

static int api_debug(lua_State *L) {
    (void)L;
    return 0;
}

/// Redis's pcall: as Lua's, but an error table with an `err` string becomes that string.
static int redis_pcall(lua_State *L) {
    int argc = lua_gettop(L);
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    if (lua_pcall(L, argc - 1, LUA_MULTRET, 0) != 0) {
        lua_remove(L, 1);
        if (lua_istable(L, -1)) {
            lua_pushstring(L, "err");
            lua_rawget(L, -2);
            if (lua_isstring(L, -1)) lua_replace(L, -2);
            else lua_pop(L, 1);
        }
        lua_pushboolean(L, 0);
        lua_insert(L, 1);
    }
    return lua_gettop(L);
}

// MARK: - math.random on Redis's rand48

typedef struct { uint64_t x; } rand48_state;

static rand48_state *rand_state(lua_State *L) {
    registry_push(L, &key_rand);
    rand48_state *state = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return state;
}

int32_t nt_lua_rand48(lua_State *L) {
    rand48_state *s = rand_state(L);
    s->x = (s->x * 0x5DEECE66DULL + 0xB) & 0xFFFFFFFFFFFFULL;
    return (int32_t)(s->x >> 17);
}

static int math_random(lua_State *L) {
    double r = (double)(nt_lua_rand48(L) % INT32_MAX) / (double)INT32_MAX;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, r);
        break;
    case 1: {
        int upper = luaL_checkint(L, 1);
        luaL_argcheck(L, 1 <= upper, 1, "interval is empty");
        lua_pushnumber(L, floor(r * upper) + 1);
        break;
    }
    case 2: {
        int lower = luaL_checkint(L, 1);
        int upper = luaL_checkint(L, 2);
        luaL_argcheck(L, lower <= upper, 2, "interval is empty");
        lua_pushnumber(L, floor(r * (upper - lower + 1)) + lower);
        break;
    }
    default:
        return luaL_error(L, "wrong number of arguments");
    }
    return 1;
}

static int math_randomseed(lua_State *L) {
    int32_t seed = luaL_checkint(L, 1);
    rand_state(L)->x = ((uint64_t)(uint32_t)seed << 16) | 0x330E;
    return 0;
}

// MARK: - redis.register_function (FUNCTION LOAD)

static int raise_registration_error(lua_State *L, const char *message) { return raise_error_table(L, message); }

/// Reads the flags table on top of the stack (strings, case-insensitive); -1 for an unknown flag.
static long read_function_flags(lua_State *L) {
    static const struct { const char *name; uint32_t flag; } names[] = {
        {"no-writes", NT_SCRIPT_NO_WRITES}, {"allow-oom", NT_SCRIPT_ALLOW_OOM},
        {"allow-stale", NT_SCRIPT_ALLOW_STALE}, {"no-cluster", NT_SCRIPT_NO_CLUSTER},
        {"allow-cross-slot-keys", NT_SCRIPT_ALLOW_CROSS_SLOT}, {NULL, 0}};
    uint32_t flags = 0;
    for (int i = 1;; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return flags;
        }
        const char *flag = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
        int found = 0;
        for (int j = 0; flag && names[j].name; j++) {
            if (strcasecmp(names[j].name, flag) == 0) {
                flags |= names[j].flag;
                found = 1;
                break;
            }
        }
        lua_pop(L, 1);
        if (!found) return -1;
    }
}

static int api_register_function(lua_State *L) {
    int argc = lua_gettop(L);
    if (argc < 1 || argc > 2) return raise_registration_error(L, "wrong number of arguments to redis.register_function");
    const char *name = NULL, *description = NULL;
    size_t name_length = 0, description_length = 0;
    uint32_t flags = 0;
    int ref = LUA_NOREF;
    if (argc == 2) {
        if (!lua_isstring(L, 1)) return raise_registration_error(L, "first argument to redis.register_function must be a string");
        if (!lua_isfunction(L, 2)) return raise_registration_error(L, "second argument to redis.register_function must be a function");
        name = lua_tolstring(L, 1, &name_length);
        lua_pushvalue(L, 2);
        ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
        if (!lua_istable(L, 1))
            return raise_registration_error(L, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
        const char *error = NULL;
        lua_pushnil(L);
        while (!error && lua_next(L, 1)) {  // [table, key, value]
            // Redis asks lua_isstring, true of numbers too: a number key is then an unknown argument (and is
            // not converted in place, which would break lua_next).
            const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (!lua_isstring(L, -2)) {
                error = "named argument key given to redis.register_function is not a string";
            } else if (!key) {
                error = "unknown argument given to redis.register_function";
            } else if (strcasecmp(key, "function_name") == 0) {
                if (!lua_isstring(L, -1)) error = "function_name argument given to redis.register_function must be a string";
                else name = lua_tolstring(L, -1, &name_length);  // the table keeps the string alive
            } else if (strcasecmp(key, "description") == 0) {
                if (!lua_isstring(L, -1)) error = "description argument given to redis.register_function must be a string";
                else description = lua_tolstring(L, -1, &description_length);
            } else if (strcasecmp(key, "callback") == 0) {
                if (!lua_isfunction(L, -1)) {
                    error = "callback argument given to redis.register_function must be a function";
                } else {
                    if (ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, ref);
                    lua_pushvalue(L, -1);
                    ref = luaL_ref(L, LUA_REGISTRYINDEX);
                }
            } else if (strcasecmp(key, "flags") == 0) {
                if (!lua_istable(L, -1)) {
                    error = "flags argument to redis.register_function must be a table representing function flags";
                } else {
                    long read = read_function_flags(L);
                    if (read < 0) error = "unknown flag given";
                    else flags = (uint32_t)read;
                }
            } else {
                error = "unknown argument given to redis.register_function";
            }
            lua_pop(L, 1);
        }
        if (!error && !name) error = "redis.register_function must get a function name argument";
        if (!error && ref == LUA_NOREF) error = "redis.register_function must get a callback argument";
        if (error) {
            if (ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, ref);
            return raise_registration_error(L, error);
        }
    }
    const char *error = NULL;
    size_t error_length = 0;
    int status = callbacks(L)->register_function(nt_lua_context(L), name, name_length, description, description_length,
                                                 description != NULL, flags, ref, &error, &error_length);
    if (status == 0) return 0;
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    if (status == 2) return raise_registration_error(L, "redis.register_function can only be called on FUNCTION LOAD command");
    push_error(L, error, error_length, 0);
    return lua_error(L);
}

// MARK: - Read-only views

/// If the value at `index` is a view, replaces it (in place) with its real table.
static void see_through(lua_State *L, int index) {
    if (!lua_istable(L, index)) return;
    index = index < 0 ? lua_gettop(L) + index + 1 : index;
    registry_push(L, &key_reals);
    lua_pushvalue(L, index);
    lua_rawget(L, -2);
    if (lua_istable(L, -1)) lua_replace(L, index);
    else lua_pop(L, 1);
    lua_pop(L, 1);
}

static int is_view(lua_State *L, int index) {
    if (!lua_istable(L, index)) return 0;
    index = index < 0 ? lua_gettop(L) + index + 1 : index;
    registry_push(L, &key_reals);
    lua_pushvalue(L, index);
    lua_rawget(L, -2);
    int found = !lua_isnil(L, -1);
    lua_pop(L, 2);
    return found;
}

static int refuse_write_in_script(lua_State *L) {  // __newindex: with the script's position
    return luaL_error(L, readonly_error);
}

static int refuse_write(lua_State *L) {  // C-level refusals: no position
    lua_pushstring(L, readonly_error);
    return lua_error(L);
}

/// __index of the views of metatables: reads the real table, showing its protected tables as their views.
static int view_index(lua_State *L) {
    see_through(L, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, 1);
    if (lua_istable(L, -1)) {
        registry_push(L, &key_views);
        lua_pushvalue(L, -2);
        lua_rawget(L, -2);
        if (lua_istable(L, -1)) return 1;
        lua_pop(L, 2);
    }
    return 1;
}

/// Pushes the view of the table at `index`, creating it the first time. Views of library tables read
/// straight through (`__index` is the table); views of metatables map the tables they hold to views.
static void push_view(lua_State *L, int index, int mapping) {
    index = index < 0 ? lua_gettop(L) + index + 1 : index;
    registry_push(L, &key_views);
    lua_pushvalue(L, index);
    lua_rawget(L, -2);
    if (lua_istable(L, -1)) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L);  // the view                                  [views, view]
    lua_newtable(L);  // its metatable                             [views, view, mt]
    lua_pushstring(L, "__index");
    if (mapping) lua_pushcfunction(L, view_index);
    else lua_pushvalue(L, index);
    lua_rawset(L, -3);
    lua_pushstring(L, "__newindex");
    lua_pushcfunction(L, refuse_write_in_script);
    lua_rawset(L, -3);
    lua_setmetatable(L, -2);  //                                   [views, view]
    lua_pushvalue(L, index);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);  // views[real] = view
    registry_push(L, &key_reals);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, index);
    lua_rawset(L, -3);  // reals[view] = real
    lua_pop(L, 1);
    lua_remove(L, -2);
}

/// Replaces every table field of the table at `index` by its view, recursively (Redis protects every table
/// reachable from the globals), and protects the metatables met on the way.
static void protect_fields(lua_State *L, int index) {
    index = index < 0 ? lua_gettop(L) + index + 1 : index;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        if (lua_istable(L, -1) && !is_view(L, -1)) {
            registry_push(L, &key_views);
            lua_pushvalue(L, -2);
            lua_rawget(L, -2);
            int seen = !lua_isnil(L, -1);
            lua_pop(L, 2);
            if (!seen) {
                push_view(L, -1, 0);
                lua_pop(L, 1);
                protect_fields(L, -1);
            }
            push_view(L, -1, 0);   // [key, value, view]
            lua_pushvalue(L, -3);  // key
            lua_insert(L, -2);     // [key, value, key, view]
            lua_rawset(L, index);  // replacing a field's value while iterating is allowed
        }
        lua_pop(L, 1);
    }
}

// Wrapped base functions: they see through views, and refuse writes to them.

static int sandbox_rawset(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (is_view(L, 1)) return refuse_write(L);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

static int sandbox_rawget(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    see_through(L, 1);
    lua_settop(L, 2);
    lua_rawget(L, 1);
    return 1;
}

/// LuaBitOp's argument conversion (barg): the low 32 bits of the number, read from its double plus 2^52 + 2^51.
static uint32_t bit_argument(lua_State *L, int index) {
    union { lua_Number n; uint64_t b; } number;
    number.n = lua_tonumber(L, index) + 6755399441055744.0;
    uint32_t b = (uint32_t)number.b;
    if (b == 0 && !lua_isnumber(L, index)) luaL_typerror(L, index, "number");
    return b;
}

/// bit.tohex as Redis has it since CVE-2024-31449: LuaBitOp's negates a digit count of INT32_MIN, an overflow
/// that writes past its 8-byte buffer (a crash, from any script, with Debian's lua-bitop).
static int bit_tohex(lua_State *L) {
    uint32_t b = bit_argument(L, 1);
    int32_t n = lua_isnone(L, 2) ? 8 : (int32_t)bit_argument(L, 2);
    const char *digits = "0123456789abcdef";
    char buffer[8];
    if (n == INT32_MIN) n = INT32_MIN + 1;
    if (n < 0) {
        n = -n;
        digits = "0123456789ABCDEF";
    }
    if (n > 8) n = 8;
    for (int i = n; --i >= 0;) {
        buffer[i] = digits[b & 15];
        b >>= 4;
    }
    lua_pushlstring(L, buffer, (size_t)n);
    return 1;
}

/// unpack as Redis has it since CVE-2025-46817: Lua 5.1's counts the range in signed arithmetic, whose
/// overflow the compiler may assume away, so unpack({}, -2^31, 2^31 - 1) pushed values past the stack (a
/// crash, from any script, with Debian's liblua5.1).
static int base_unpack(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int i = luaL_optint(L, 2, 1);
    int e = luaL_opt(L, luaL_checkint, 3, (int)lua_objlen(L, 1));
    if (i > e) return 0;
    unsigned int n = (unsigned int)e - (unsigned int)i;  // the number of values minus one
    if (n >= INT_MAX || !lua_checkstack(L, (int)++n)) return luaL_error(L, "too many results to unpack");
    lua_rawgeti(L, 1, i);
    while (i++ < e) lua_rawgeti(L, 1, i);
    return (int)n;
}

static int sandbox_next(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    see_through(L, 1);
    lua_settop(L, 2);
    if (lua_next(L, 1)) return 2;
    lua_pushnil(L);
    return 1;
}

static int sandbox_pairs(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    see_through(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));  // next
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int ipairs_step(lua_State *L) {
    int i = luaL_checkint(L, 2) + 1;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushinteger(L, i);
    lua_rawgeti(L, 1, i);
    return lua_isnil(L, -1) ? 0 : 2;
}

static int sandbox_ipairs(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    see_through(L, 1);
    lua_pushcfunction(L, ipairs_step);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 0);
    return 3;
}

/// setmetatable (Lua's luaB_setmetatable), refusing views: done here rather than by calling the original, so
/// that its errors are raised by the function the script called, named and placed as in Redis.
static int sandbox_setmetatable(lua_State *L) {
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argcheck(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table expected");
    if (is_view(L, 1)) return refuse_write(L);
    if (luaL_getmetafield(L, 1, "__metatable")) return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

static int sandbox_getmetatable(lua_State *L) {
    luaL_checkany(L, 1);
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, "__metatable");
    lua_rawget(L, -2);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);
    registry_push(L, &key_views);  // a protected metatable is shown as its view
    lua_pushvalue(L, -2);
    lua_rawget(L, -2);
    if (lua_istable(L, -1)) return 1;
    lua_pop(L, 2);
    return 1;
}

/// table.insert/remove/sort/setn: check the arguments as the original does (its errors are then raised by
/// the function the script called: named, and placed at the script's line, as in Redis), refuse a view as the
/// table, then run the original. (Errors the original raises itself, from sort, are placed by the error
/// handler, which skips this frame, but "invalid order function for sorting" lacks Redis's "user_script:N: ".)
static int sandbox_table_write(lua_State *L) {
    const char *name = lua_tostring(L, lua_upvalueindex(2));
    luaL_checktype(L, 1, LUA_TTABLE);
    if (strcmp(name, "insert") == 0) {
        if (lua_gettop(L) == 3) luaL_checkint(L, 2);
        else if (lua_gettop(L) != 2) return luaL_error(L, "wrong number of arguments to " LUA_QL("insert"));
    } else if (strcmp(name, "remove") == 0) {
        luaL_optint(L, 2, 0);
        if (is_view(L, 1)) {  // out of the real table's bounds, the original writes nothing: nothing to refuse
            see_through(L, 1);
            int e = (int)lua_objlen(L, 1), pos = luaL_optint(L, 2, e);
            return 1 <= pos && pos <= e ? refuse_write(L) : 0;
        }
    } else if (strcmp(name, "sort") == 0) {
        if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
    } else {  // setn: Debian's Lua 5.1 is built without LUA_COMPAT_GETN
        return luaL_error(L, LUA_QL("setn") " is obsolete");
    }
    if (is_view(L, 1)) return refuse_write(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int nonexistent_global(lua_State *L) {
    const char *name = lua_tostring(L, 2);
    return luaL_error(L, "Script attempted to access nonexistent global variable '%s'", name ? name : "?");
}

// MARK: - Source only: no precompiled chunks

// Redis's Lua never loads a precompiled chunk: its f_parser always runs the parser, since Lua 5.1 does not
// verify bytecode and crafted bytecode reads and writes memory outside the sandbox. Stock Lua undumps any
// chunk that starts with "\033" (LUA_SIGNATURE). Here such a chunk is read with one space before it: the
// parser gets it and fails at its first byte with Redis's message ("unexpected symbol near 'char(27)'"),
// on the same line. EVAL bodies, loadstring and load go through this; a library's code never starts with
// that byte (the newline after its shebang comes first).

typedef struct {
    const char *chunk;
    size_t length;
    int stage;  // 0: the space, 1: the chunk, 2: done
} spaced_chunk;

static const char *spaced_chunk_reader(lua_State *L, void *ud, size_t *size) {
    (void)L;
    spaced_chunk *c = ud;
    switch (c->stage++) {
    case 0: *size = 1; return " ";
    case 1: *size = c->length; return c->chunk;
    default: *size = 0; return NULL;
    }
}

static int load_source(lua_State *L, const char *chunk, size_t length, const char *chunkname) {
    if (length == 0 || chunk[0] != LUA_SIGNATURE[0]) return luaL_loadbuffer(L, chunk, length, chunkname);
    spaced_chunk c = {chunk, length, 0};
    return lua_load(L, spaced_chunk_reader, &c, chunkname);
}

static int load_result(lua_State *L, int status) {  // lbaselib's load_aux: the function, or nil and the error
    if (status == 0) return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

static int sandbox_loadstring(lua_State *L) {  // lbaselib's luaB_loadstring
    size_t length;
    const char *chunk = luaL_checklstring(L, 1, &length);
    const char *chunkname = luaL_optstring(L, 2, chunk);
    return load_result(L, load_source(L, chunk, length, chunkname));
}

typedef struct {
    int pieces;
    int space_given;  // the first piece is precompiled: a space went first, the piece (in slot 3) follows
} load_reader_state;

static const char *load_reader(lua_State *L, void *ud, size_t *size) {  // lbaselib's generic_reader
    load_reader_state *state = ud;
    if (state->space_given) {
        state->space_given = 0;
        return lua_tolstring(L, 3, size);
    }
    luaL_checkstack(L, 2, "too many nested functions");
    lua_pushvalue(L, 1);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
        *size = 0;
        return NULL;
    }
    if (!lua_isstring(L, -1)) luaL_error(L, "reader function must return a string");
    lua_replace(L, 3);  // keeps the piece alive while the parser reads it
    const char *piece = lua_tolstring(L, 3, size);
    if (state->pieces++ == 0 && *size > 0 && piece[0] == LUA_SIGNATURE[0]) {
        state->space_given = 1;
        *size = 1;
        return " ";
    }
    return piece;
}

static int sandbox_load(lua_State *L) {  // lbaselib's luaB_load
    const char *chunkname = luaL_optstring(L, 2, "=(load)");
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 3);  // the function, the name, and a slot for the piece being read
    load_reader_state state = {0, 0};
    return load_result(L, lua_load(L, load_reader, &state, chunkname));
}

// MARK: - Set-up

/// Opens a library as Redis does; a module that only returns its table (Debian's cjson) becomes the global.
static void open_library(lua_State *L, const char *name, lua_CFunction open) {
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (*name && lua_istable(L, -1)) {
        lua_getglobal(L, name);
        int missing = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (missing) {
            lua_setglobal(L, name);
            return;
        }
    }
    lua_pop(L, 1);
}

static void set_function(lua_State *L, const char *name, lua_CFunction f) {
    lua_pushstring(L, name);
    lua_pushcfunction(L, f);
    lua_rawset(L, -3);
}

static void set_number(lua_State *L, const char *name, double value) {
    lua_pushstring(L, name);
    lua_pushnumber(L, value);
    lua_rawset(L, -3);
}

/// redis.log, its levels and the version fields, in the `redis` table on top of the stack (EVAL's and
/// FUNCTION LOAD's both have them).
static void set_log_and_version(lua_State *L, const char *version, int version_num) {
    set_function(L, "log", api_log);
    set_number(L, "LOG_DEBUG", 0);
    set_number(L, "LOG_VERBOSE", 1);
    set_number(L, "LOG_NOTICE", 2);
    set_number(L, "LOG_WARNING", 3);
    set_number(L, "REDIS_VERSION_NUM", version_num);
    lua_pushstring(L, "REDIS_VERSION");
    lua_pushstring(L, version);
    lua_rawset(L, -3);
}

/// Replaces global table `library`'s field `name` (or the global `name` when library is NULL) with a
/// closure of `wrapper` over the original. The closure is listed for the error handler, which does not count
/// it among the frames (Redis has the original alone there).
static void wrap(lua_State *L, const char *library, const char *name, lua_CFunction wrapper) {
    if (library) lua_getglobal(L, library);
    else lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_pushstring(L, name);
    lua_pushstring(L, name);
    lua_rawget(L, -3);
    lua_pushstring(L, name);
    lua_pushcclosure(L, wrapper, 2);  // upvalues: the original and its name
    registry_push(L, &key_wrappers);
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

// The error handler scripts run under (Redis's __redis__err__handler): a string error becomes
// {err = 'ERR ' .. message}, and the table gets the source and line of the Lua code that raised it (the
// caller's when a C function raised it). Frames of the wrappers `wrap` makes are skipped, so that an error
// raised in the original they call is placed as in Redis; the chunk returns their set, filled by `wrap`.
static const char error_handler_source[] =
    "local getinfo, wrappers = debug.getinfo, {}\n"
    "local function caller(n)\n"  // the handler's n-th caller, wrappers not counted (Redis's getinfo(n + 1))
    "  local level = 3\n"
    "  while true do\n"
    "    local where = getinfo(level, 'nSlf')\n"
    "    if where == nil then return nil end\n"
    "    if not wrappers[where.func] then\n"
    "      n = n - 1\n"
    "      if n == 0 then return where end\n"
    "    end\n"
    "    level = level + 1\n"
    "  end\n"
    "end\n"
    "function __redis__err__handler(err)\n"
    "  local where = caller(1)\n"
    "  if where and where.what == 'C' then where = caller(2) end\n"
    "  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end\n"
    "  if where then\n"
    "    err['source'] = where.source\n"
    "    err['line'] = where.currentline\n"
    "  end\n"
    "  return err\n"
    "end\n"
    "return wrappers\n";

static int setup(lua_State *L) {
    const nt_lua_callbacks *cb = lua_touserdata(L, 1);
    void *context = lua_touserdata(L, 2);
    const char *version = lua_tostring(L, 3);
    int version_num = (int)lua_tonumber(L, 4);
    int mode = (int)lua_tonumber(L, 5);

    lua_pushlightuserdata(L, (void *)cb);
    registry_store(L, &key_callbacks);
    lua_pushlightuserdata(L, context);
    registry_store(L, &key_context);
    lua_newtable(L);
    registry_store(L, &key_views);
    lua_newtable(L);
    registry_store(L, &key_reals);
    rand48_state *rand = lua_newuserdata(L, sizeof(rand48_state));
    rand->x = 0x1234ABCD330EULL;  // rand48's initial state, as Redis's
    registry_store(L, &key_rand);

    open_library(L, "", luaopen_base);
    open_library(L, LUA_TABLIBNAME, luaopen_table);
    open_library(L, LUA_STRLIBNAME, luaopen_string);
    open_library(L, LUA_MATHLIBNAME, luaopen_math);
    open_library(L, LUA_DBLIBNAME, luaopen_debug);
    open_library(L, "cjson", luaopen_cjson);
    open_library(L, "struct", luaopen_struct);
    open_library(L, "cmsgpack", luaopen_cmsgpack);
    open_library(L, "bit", luaopen_bit);

    // Globals redis-server 7.0 does not give scripts.
    static const char *const removed[] = {"dofile", "loadfile", "print", "newproxy", "getfenv", "setfenv", NULL};
    for (const char *const *name = removed; *name; name++) {
        lua_pushnil(L);
        lua_setglobal(L, *name);
    }
    lua_pushcfunction(L, redis_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, sandbox_loadstring);
    lua_setglobal(L, "loadstring");
    lua_pushcfunction(L, sandbox_load);
    lua_setglobal(L, "load");

    lua_newtable(L);
    set_function(L, "call", api_call);
    set_function(L, "pcall", api_pcall);
    set_log_and_version(L, version, version_num);
    set_function(L, "setresp", api_setresp);
    set_function(L, "sha1hex", api_sha1hex);
    set_function(L, "error_reply", api_error_reply);
    set_function(L, "status_reply", api_status_reply);
    set_function(L, "set_repl", api_set_repl);
    set_number(L, "REPL_NONE", 0);
    set_number(L, "REPL_AOF", 1);
    set_number(L, "REPL_SLAVE", 2);
    set_number(L, "REPL_REPLICA", 2);
    set_number(L, "REPL_ALL", 3);
    set_function(L, "acl_check_cmd", api_acl_check_cmd);
    if (mode == NT_LUA_EVAL) {  // added by Redis's eval.c: functions do not have them
        set_function(L, "replicate_commands", api_replicate_commands);
        set_function(L, "breakpoint", api_breakpoint);
        set_function(L, "debug", api_debug);
    }
    lua_setglobal(L, "redis");

    lua_getglobal(L, "math");
    set_function(L, "random", math_random);
    set_function(L, "randomseed", math_randomseed);
    lua_pop(L, 1);
    // Library functions with Redis's security fixes, which Debian's builds lack.
    lua_getglobal(L, "bit");
    set_function(L, "tohex", bit_tohex);
    lua_pop(L, 1);
    lua_pushcfunction(L, base_unpack);
    lua_setglobal(L, "unpack");

    if (luaL_loadbuffer(L, error_handler_source, sizeof(error_handler_source) - 1, "@err_handler_def") != 0)
        return lua_error(L);
    lua_call(L, 0, 1);
    registry_store(L, &key_wrappers);
    lua_pushnil(L);
    lua_setglobal(L, "debug");
    lua_getglobal(L, "__redis__err__handler");
    registry_store(L, &key_handler);
    if (mode == NT_LUA_FUNCTIONS) {  // functions find it in the registry only, as Redis's
        lua_pushnil(L);
        lua_setglobal(L, "__redis__err__handler");
    }

    wrap(L, NULL, "rawset", sandbox_rawset);
    wrap(L, NULL, "rawget", sandbox_rawget);
    lua_pushcfunction(L, sandbox_next);
    lua_setglobal(L, "next");
    lua_getglobal(L, "next");
    lua_pushcclosure(L, sandbox_pairs, 1);
    lua_setglobal(L, "pairs");
    lua_pushcfunction(L, sandbox_ipairs);
    lua_setglobal(L, "ipairs");
    wrap(L, NULL, "setmetatable", sandbox_setmetatable);
    lua_pushcfunction(L, sandbox_getmetatable);
    lua_setglobal(L, "getmetatable");
    static const char *const table_writers[] = {"insert", "remove", "sort", "setn", NULL};
    for (const char *const *name = table_writers; *name; name++) wrap(L, "table", *name, sandbox_table_write);

    // Protect: library tables become views; the string metatable and the views' metatables get views of
    // their own (for getmetatable); the real globals raise on unknown names; the thread sees the view.
    int globals = lua_gettop(L) + 1;
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    lua_pushstring(L, "_G");
    lua_pushnil(L);
    lua_rawset(L, globals);
    protect_fields(L, globals);
    push_view(L, globals, 0);  // [globals, globals view]
    lua_pushstring(L, "_G");
    lua_pushvalue(L, -2);
    lua_rawset(L, globals);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    push_view(L, -1, 1);
    lua_pop(L, 3);
    // The metatables of every view so far.
    registry_push(L, &key_reals);
    int reals = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, reals)) {
        lua_pop(L, 1);
        if (lua_getmetatable(L, -1)) {
            push_view(L, -1, 1);
            lua_pop(L, 2);
        }
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushstring(L, "__index");
    lua_pushcfunction(L, nonexistent_global);
    lua_rawset(L, -3);
    lua_setmetatable(L, globals);
    lua_pushvalue(L, globals);
    registry_store(L, &key_globals);
    if (mode == NT_LUA_FUNCTIONS) {
        // What a library's code sees while FUNCTION LOAD runs it: only redis.register_function, redis.log
        // and the version (anything else raises as a nonexistent global).
        lua_newtable(L);  // the load API's globals
        lua_pushstring(L, "redis");
        lua_newtable(L);
        set_function(L, "register_function", api_register_function);
        set_log_and_version(L, version, version_num);
        lua_newtable(L);
        lua_pushstring(L, "__index");
        lua_pushcfunction(L, nonexistent_global);
        lua_rawset(L, -3);
        lua_pushvalue(L, -1);
        lua_setmetatable(L, -3);  // redis (load API) raises on unknown names
        lua_insert(L, -3);        // [api, mt, "redis", redis]
        push_view(L, -1, 0);
        lua_remove(L, -2);        // [api, mt, "redis", view]
        lua_rawset(L, -4);        // api.redis = view
        lua_setmetatable(L, -2);  // api raises on unknown names
        registry_store(L, &key_load_api);
    }
    lua_pushvalue(L, -1);
    registry_store(L, &key_globals_view);
    lua_replace(L, LUA_GLOBALSINDEX);  // the view is the thread's globals from now on
    lua_settop(L, 0);
    return 0;
}

lua_State *nt_lua_open(const nt_lua_callbacks *cb, void *context, const char *version, int version_num, int mode) {
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    lua_pushcfunction(L, setup);
    lua_pushlightuserdata(L, (void *)cb);
    lua_pushlightuserdata(L, context);
    lua_pushstring(L, version);
    lua_pushnumber(L, version_num);
    lua_pushnumber(L, mode);
    if (lua_pcall(L, 5, 0, 0) != 0) {
        lua_close(L);
        return NULL;
    }
    return L;
}

void nt_lua_close(lua_State *L) { lua_close(L); }

// MARK: - Running scripts

int nt_lua_load(lua_State *L, const char *body, size_t length, const char *chunkname) {
    return load_source(L, body, length, chunkname);
}

void nt_lua_registry_set(lua_State *L, const char *name) {
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, name);
}

int nt_lua_registry_get(lua_State *L, const char *name) {
    lua_getfield(L, LUA_REGISTRYINDEX, name);
    return lua_isfunction(L, -1);
}

void nt_lua_push_array(lua_State *L, const char *const *strings, const size_t *lengths, int count) {
    lua_createtable(L, count, 0);
    for (int i = 0; i < count; i++) {
        lua_pushlstring(L, strings[i], lengths[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

void nt_lua_set_global_array(lua_State *L, const char *name, const char *const *strings, const size_t *lengths,
                             int count) {
    registry_push(L, &key_globals);
    lua_pushstring(L, name);
    nt_lua_push_array(L, strings, lengths, count);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (callbacks(L)->interrupt(nt_lua_context(L))) {
        // From now on the hook fires on every line, so a pcall cannot swallow the kill for long.
        lua_sethook(L, interrupt_hook, LUA_MASKLINE, 0);
        raise_error_table(L, "Script killed by user with SCRIPT KILL...");
    }
}

int nt_lua_run(lua_State *L, int nargs, int hook) {
    // Stack: function, arguments. The handler goes below the function.
    int function = lua_gettop(L) - nargs;
    registry_push(L, &key_handler);
    lua_insert(L, function);
    if (hook) lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, 100000);
    int status = lua_pcall(L, nargs, 1, function);
    if (hook) lua_sethook(L, NULL, 0, 0);
    return status;  // the handler stays below the result until the caller has converted it
}

// MARK: - Loading a function library

static double monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void load_timeout_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    registry_push(L, &key_load_deadline);
    double deadline = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (deadline > 0 && monotonic_ms() > deadline) {
        lua_sethook(L, load_timeout_hook, LUA_MASKLINE, 0);
        raise_error_table(L, "FUNCTION LOAD timeout");
    }
}

/// Points the globals view at `api` (the load API, or the real globals).
static void read_globals_from(lua_State *L, void *api) {
    registry_push(L, &key_globals_view);
    lua_getmetatable(L, -1);
    lua_pushstring(L, "__index");
    registry_push(L, api);
    lua_rawset(L, -3);
    lua_pop(L, 2);
}

int nt_lua_load_library(lua_State *L, const char *code, size_t length, int timeout_ms) {
    if (luaL_loadbuffer(L, code, length, "@user_function") != 0) {
        lua_pushstring(L, "Error compiling function: ");
        lua_insert(L, -2);
        lua_concat(L, 2);
        return 1;
    }
    lua_pushnumber(L, timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0);
    registry_store(L, &key_load_deadline);
    read_globals_from(L, &key_load_api);
    lua_sethook(L, load_timeout_hook, LUA_MASKCOUNT, 100000);
    int status = lua_pcall(L, 0, 0, 0);
    lua_sethook(L, NULL, 0, 0);
    read_globals_from(L, &key_globals);
    if (status == 0) return 0;
    // The message as Redis's luaExtractErrorInformation: a string gets "ERR ", a table its `err`.
    lua_pushstring(L, "Error registering functions: ");
    if (lua_istable(L, -2)) {
        lua_pushstring(L, "err");
        lua_rawget(L, -3);
        if (!lua_isstring(L, -1)) {
            lua_pop(L, 1);
            lua_pushstring(L, "(null)");
        }
    } else {
        lua_pushstring(L, "ERR ");
        if (lua_isstring(L, -3)) lua_pushvalue(L, -3);
        else lua_pushstring(L, "(null)");
        lua_concat(L, 2);
    }
    lua_concat(L, 2);
    lua_remove(L, -2);
    return 1;
}

void nt_lua_push_ref(lua_State *L, int ref) { lua_rawgeti(L, LUA_REGISTRYINDEX, ref); }
void nt_lua_unref(lua_State *L, int ref) { luaL_unref(L, LUA_REGISTRYINDEX, ref); }

// MARK: - RESP -> Lua (redis.call's result), as Redis's redisProtocolToLuaType

static const char *push_value(lua_State *L, const char *p, const char *end, int *is_error);

static const char *line_end(const char *p, const char *end) {
    const char *cr = memchr(p, '\r', (size_t)(end - p));
    return cr ? cr : end;
}

static long long parse_ll(const char *p, const char *e) {
    long long v = 0;
    int negative = 0;
    if (p < e && *p == '-') { negative = 1; p++; }
    while (p < e && *p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
    return negative ? -v : v;
}

/// Whether the value at `index` may be a table key (nil and NaN may not: setting them would raise).
static int valid_key(lua_State *L, int index) {
    if (lua_isnil(L, index)) return 0;
    if (lua_type(L, index) == LUA_TNUMBER) {
        double d = lua_tonumber(L, index);
        return d == d;
    }
    return 1;
}

static const char *push_aggregate(lua_State *L, const char *p, const char *end, char type, long long count) {
    int ignored;
    lua_checkstack(L, 4);
    switch (type) {
    case '*':
        lua_createtable(L, count > 0 ? (int)count : 0, 0);
        for (long long i = 0; i < count; i++) {
            p = push_value(L, p, end, &ignored);
            lua_rawseti(L, -2, (int)(i + 1));
        }
        return p;
    case '%':
        lua_newtable(L);
        lua_pushstring(L, "map");
        lua_newtable(L);
        for (long long i = 0; i < count; i++) {
            p = push_value(L, p, end, &ignored);
            p = push_value(L, p, end, &ignored);
            if (valid_key(L, -2)) lua_rawset(L, -3);
            else lua_pop(L, 2);
        }
        lua_rawset(L, -3);
        return p;
    case '~':
        lua_newtable(L);
        lua_pushstring(L, "set");
        lua_newtable(L);
        for (long long i = 0; i < count; i++) {
            p = push_value(L, p, end, &ignored);
            lua_pushboolean(L, 1);
            if (valid_key(L, -2)) lua_rawset(L, -3);
            else lua_pop(L, 2);
        }
        lua_rawset(L, -3);
        return p;
    default:  // '|' attributes: skipped, then the reply they annotate
        for (long long i = 0; i < count * 2; i++) {
            p = push_value(L, p, end, &ignored);
            lua_pop(L, 1);
        }
        return push_value(L, p, end, &ignored);
    }
}

static const char *push_value(lua_State *L, const char *p, const char *end, int *is_error) {
    *is_error = 0;
    lua_checkstack(L, 4);
    if (p >= end) {
        lua_pushnil(L);
        return end;
    }
    char type = *p++;
    const char *e = line_end(p, end);
    const char *next = e + 2 <= end ? e + 2 : end;
    switch (type) {
    case '+':
        lua_newtable(L);
        lua_pushstring(L, "ok");
        lua_pushlstring(L, p, (size_t)(e - p));
        lua_rawset(L, -3);
        return next;
    case '-':
        push_error(L, p - 1, (size_t)(e - p + 1), 1);
        *is_error = 1;
        return next;
    case ':':
        lua_pushnumber(L, (lua_Number)parse_ll(p, e));
        return next;
    case '$': {
        long long length = parse_ll(p, e);
        if (length < 0) {
            lua_pushboolean(L, 0);
            return next;
        }
        if (length > end - next) length = end - next;
        lua_pushlstring(L, next, (size_t)length);
        const char *after = next + length + 2;
        return after <= end ? after : end;
    }
    case '=': {  // verbatim: {verbatim_string = {format = 'txt', string = ...}}
        long long length = parse_ll(p, e);
        if (length < 4 || length > end - next) length = end - next < 4 ? 4 : end - next;
        lua_newtable(L);
        lua_pushstring(L, "verbatim_string");
        lua_newtable(L);
        lua_pushstring(L, "string");
        lua_pushlstring(L, next + 4, (size_t)(length - 4));
        lua_rawset(L, -3);
        lua_pushstring(L, "format");
        lua_pushlstring(L, next, 3);
        lua_rawset(L, -3);
        lua_rawset(L, -3);
        const char *after = next + length + 2;
        return after <= end ? after : end;
    }
    case '*': case '%': case '~': case '|': {
        long long count = parse_ll(p, e);
        if (count < 0) {
            lua_pushboolean(L, 0);
            return next;
        }
        return push_aggregate(L, next, end, type, count);
    }
    case '_':
        lua_pushnil(L);
        return next;
    case '#':
        lua_pushboolean(L, *p == 't');
        return next;
    case ',': {
        char buffer[128];
        size_t length = (size_t)(e - p) < sizeof(buffer) - 1 ? (size_t)(e - p) : sizeof(buffer) - 1;
        memcpy(buffer, p, length);
        buffer[length] = 0;
        lua_newtable(L);
        lua_pushstring(L, "double");
        lua_pushnumber(L, strtod(buffer, NULL));
        lua_rawset(L, -3);
        return next;
    }
    case '(':
        lua_newtable(L);
        lua_pushstring(L, "big_number");
        lua_pushlstring(L, p, (size_t)(e - p));
        lua_rawset(L, -3);
        return next;
    case '>':  // push frames never reach a script's client; read as an array
        return push_aggregate(L, next, end, '*', parse_ll(p, e));
    default:
        lua_pushnil(L);
        return end;
    }
}

/// Pushes the Lua value of a RESP reply; returns whether it is an error (an error table was pushed).
static int push_reply(lua_State *L, const char *reply, size_t length) {
    int is_error = 0;
    push_value(L, reply, reply + length, &is_error);
    return is_error;
}

// MARK: - Arguments and accessors

int nt_format_double17(char *buffer, size_t size, double value) {
    return snprintf(buffer, size, "%.17g", value);
}

int nt_lua_gettop(lua_State *L) { return lua_gettop(L); }
void nt_lua_settop(lua_State *L, int index) { lua_settop(L, index); }
void nt_lua_pop(lua_State *L, int n) { lua_pop(L, n); }
int nt_lua_type(lua_State *L, int index) { return lua_type(L, index); }
const char *nt_lua_tolstring(lua_State *L, int index, size_t *length) { return lua_tolstring(L, index, length); }
double nt_lua_tonumber(lua_State *L, int index) { return lua_tonumber(L, index); }
int nt_lua_toboolean(lua_State *L, int index) { return lua_toboolean(L, index); }
void nt_lua_pushlstring(lua_State *L, const char *s, size_t length) { lua_pushlstring(L, s, length); }
void nt_lua_pushnumber(lua_State *L, double n) { lua_pushnumber(L, n); }
void nt_lua_pushnil(lua_State *L) { lua_pushnil(L); }
void nt_lua_pushboolean(lua_State *L, int b) { lua_pushboolean(L, b); }
void nt_lua_rawget_field(lua_State *L, int index, const char *key) {
    index = index < 0 ? lua_gettop(L) + index + 1 : index;
    lua_pushstring(L, key);
    lua_rawget(L, index);
}
void nt_lua_rawgeti(lua_State *L, int index, int n) { lua_rawgeti(L, index, n); }
int nt_lua_next(lua_State *L, int index) { return lua_next(L, index); }
void nt_lua_pushvalue(lua_State *L, int index) { lua_pushvalue(L, index); }
int nt_lua_checkstack(lua_State *L, int extra) { return lua_checkstack(L, extra); }
size_t nt_lua_memory(lua_State *L) { return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0); }
void nt_lua_gc_step(lua_State *L, int size) { lua_gc(L, LUA_GCSTEP, size); }
