#include <stdio.h>
int main(void)
{
    puts("shop-api: not built yet");
    return 2;
}
