/* A process with many threads, for bench/threads.py.
 *
 *   threads N BUSY   N threads; BUSY of them wake up every millisecond (nanosleep), the others
 *                    block on a condition variable forever. Prints "ready" once all exist. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int started;

static void *idle(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    started++;
    for (;;) pthread_cond_wait(&never, &mu);
    return NULL;
}

static void *busy(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    started++;
    pthread_mutex_unlock(&mu);
    struct timespec ts = {0, 1000000};
    for (;;) nanosleep(&ts, NULL);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000, nbusy = argc > 2 ? atoi(argv[2]) : 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, i < nbusy ? busy : idle, NULL)) {
            perror("pthread_create");
            return 1;
        }
    }
    for (;;) {
        pthread_mutex_lock(&mu);
        int s = started;
        pthread_mutex_unlock(&mu);
        if (s == n) break;
        usleep(1000);
    }
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
