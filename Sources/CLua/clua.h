// PUC Lua 5.1 as Debian ships it (liblua5.1-0-dev), with Debian's lua-cjson and lua-bitop modules: the
// interpreter and two of the four libraries Redis gives scripts (Sources/CScripting has the other two).
#ifndef NEEDLETAIL_CLUA_H
#define NEEDLETAIL_CLUA_H
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>
#include <lua-bitop.h>
#endif
