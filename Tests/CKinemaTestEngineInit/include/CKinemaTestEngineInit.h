/* Registers the test engine when libkinema-testengine.so is loaded (see init.c). */
#ifndef CKINEMA_TEST_ENGINE_INIT_H
#define CKINEMA_TEST_ENGINE_INIT_H
void ktestengine_register(void);
#endif
