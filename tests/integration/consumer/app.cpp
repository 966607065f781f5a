// The same from C++: the public headers must compile as C++ and link without name mangling.
#include <potter.h>

#include <iostream>

int main()
{
    bool same = pt_version_number() == PT_VERSION_NUMBER;

    std::cout << "potter " << pt_version_string() << (same ? " headers-match" : " headers-differ")
              << std::endl;
    PT_INFO(pt_log_default(), "hello", PT_INT("n", 1));
    return pt_log_flush(1000) == 0 && same ? 0 : 1;
}
