// libkinema-testengine.so is libkinema.so plus TestEngine (Tests/KinemaCTestEngine). This
// constructor registers the engine's loader when the library is loaded, before any kinema_*
// call, so C and Python test programs drive it through the unchanged C interface.
#include "CKinemaTestEngineInit.h"

__attribute__((constructor)) static void kinema_test_engine_init(void) {
    ktestengine_register();
}
