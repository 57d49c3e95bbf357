/*
 * include_one.c - includes the one header named by SP_HEADER, compiled with the include path of
 * one layer (tests/layers/CMakeLists.txt): whether that compiles is the test.
 */
#include SP_HEADER

int sp_layers_include_one(void);
int sp_layers_include_one(void)
{
    return 0;
}
