/*
 * banned.h - functions that must not be used in Stampede: they overflow buffers or keep hidden
 * state. Use snprintf, sp_buf, memcpy with a known length, strtok_r, and fgets instead.
 * strncpy and strncat too, as in git's banned.h: strncpy leaves the copy without a NUL when the
 * source is as long as the bound, and strncat's bound is the room left, not the buffer's size,
 * an off-by-one waiting to happen.
 */
#ifndef SP_BANNED_H
#define SP_BANNED_H

#define SP_BANNED(func) sorry_##func##_is_banned

#undef strcpy
#define strcpy(x, y) SP_BANNED(strcpy)
#undef strcat
#define strcat(x, y) SP_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) SP_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) SP_BANNED(strncat)
#undef sprintf
#define sprintf(...) SP_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) SP_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) SP_BANNED(strtok)
#undef gets
#define gets(x) SP_BANNED(gets)

#endif
