/*
 * cscripting_libs.h - the C libraries Needletail gives Lua scripts on top of
 * PUC Lua 5.1, beyond what Debian packages (lua-cjson, lua-bitop):
 *
 *   luaopen_cmsgpack  MessagePack, as Redis 7.0's "cmsgpack"  (lua_cmsgpack.c)
 *   luaopen_struct    binary structs, as Redis 7.0's "struct" (lua_struct.c)
 *
 * Each opener leaves the library table on the stack and also stores it in the
 * global of the same name, like the originals do under Lua 5.1.
 * Compile with -I/usr/include/lua5.1.
 */
#ifndef CSCRIPTING_LIBS_H
#define CSCRIPTING_LIBS_H

#include <lua.h>

int luaopen_cmsgpack(lua_State *L);
int luaopen_struct(lua_State *L);

#endif
