/*
 * banned.h: functions that are too easy to misuse. Including this after the
 * system headers turns any use into a compile error that names the
 * replacement. Every .c file of the project includes it last.
 */
#ifndef SM_BANNED_H
#define SM_BANNED_H

#define SM_BANNED(func) sorry_##func##_is_banned_in_stuurman

#undef strcpy
#define strcpy(x, y) SM_BANNED(strcpy_use_memcpy_with_a_length)
#undef strcat
#define strcat(x, y) SM_BANNED(strcat_use_sm_buf)
#undef strncpy
#define strncpy(x, y, n) SM_BANNED(strncpy_use_memcpy_with_a_length)
#undef strncat
#define strncat(x, y, n) SM_BANNED(strncat_use_sm_buf)
#undef sprintf
#define sprintf(...) SM_BANNED(sprintf_use_snprintf_or_sm_buf_addf)
#undef vsprintf
#define vsprintf(...) SM_BANNED(vsprintf_use_vsnprintf)
#undef strtok
#define strtok(x, y) SM_BANNED(strtok_use_strtok_r_or_a_parser)
#undef gmtime
#define gmtime(t) SM_BANNED(gmtime_use_gmtime_r)
#undef localtime
#define localtime(t) SM_BANNED(localtime_use_localtime_r)
#undef ctime
#define ctime(t) SM_BANNED(ctime_use_strftime)
#undef asctime
#define asctime(t) SM_BANNED(asctime_use_strftime)
#undef gets
#define gets(x) SM_BANNED(gets)
#undef atoi
#define atoi(x) SM_BANNED(atoi_use_strtol_with_checks)

#endif
