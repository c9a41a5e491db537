#include <charls/charls.h>
