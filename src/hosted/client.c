/* One request to a VM's control API over its unix socket, with libcurl. libcurl is opened
 * when a verb first calls a VM, not linked: a VM process never calls one, and so does not
 * carry libcurl and the thirty libraries it pulls in (about 5 MiB of each VM's RSS). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "hosted/client.h"
#include "hosted/home.h"

#define REPLY_MAX (1 * MiB)

struct sink {
    char *data;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;
    if (s->len + n > REPLY_MAX)
        return 0;
    char *nd = realloc(s->data, s->len + n + 1);
    if (!nd)
        return 0;
    memcpy(nd + s->len, ptr, n);
    s->data = nd;
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

static struct {
    bool tried;
    void *lib;
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} cu;

#define CURL_SYM(field, name) \
    (*(void **)&cu.field = dlsym(cu.lib, name)) != NULL

static bool curl_load(char *err, size_t errlen)
{
    if (!cu.tried) {
        cu.tried = true;
        cu.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
        if (cu.lib && !(CURL_SYM(easy_init, "curl_easy_init") &&
                        CURL_SYM(easy_setopt, "curl_easy_setopt") &&
                        CURL_SYM(easy_perform, "curl_easy_perform") &&
                        CURL_SYM(easy_getinfo, "curl_easy_getinfo") &&
                        CURL_SYM(easy_cleanup, "curl_easy_cleanup") &&
                        CURL_SYM(easy_strerror, "curl_easy_strerror") &&
                        CURL_SYM(slist_append, "curl_slist_append") &&
                        CURL_SYM(slist_free_all, "curl_slist_free_all"))) {
            dlclose(cu.lib);
            cu.lib = NULL;
        }
    }
    if (!cu.lib)
        snprintf(err, errlen, "cannot load libcurl.so.4 (Debian package libcurl4), which the "
                 "verbs use to reach a VM");
    return cu.lib != NULL;
}

long client_call(const char *sock, const char *method, const char *path, json_t *body,
                 json_t **reply, char *err, size_t errlen)
{
    if (reply)
        *reply = NULL;
    if (!curl_load(err, errlen))
        return -1;
    CURL *c = cu.easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot start an HTTP client");
        return -1;
    }
    char url[512];
    snprintf(url, sizeof(url), "http://localhost%s", path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct sink s = { NULL, 0 };
    struct curl_slist *h = cu.slist_append(NULL, "Content-Type: application/json");
    h = cu.slist_append(h, "Accept: application/json");
    cu.easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    cu.easy_setopt(c, CURLOPT_URL, url);
    cu.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    cu.easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cu.easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
    if (!strcmp(method, "GET"))
        cu.easy_setopt(c, CURLOPT_HTTPGET, 1L);
    cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    cu.easy_setopt(c, CURLOPT_WRITEDATA, &s);
    cu.easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = cu.easy_perform(c);
    long status = -1;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "the VM's API at '%s' does not answer: %s", sock,
                 cu.easy_strerror(rc));
    } else {
        cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        json_t *j = s.len ? json_loads(s.data, 0, NULL) : NULL;
        if (status >= 400) {
            const char *m = json_string_value(json_object_get(j, "fault_message"));
            snprintf(err, errlen, "%s", m ? m : "the VM refused the request");
        }
        if (reply)
            *reply = j;
        else
            json_decref(j);
    }
    cu.slist_free_all(h);
    cu.easy_cleanup(c);
    free(text);
    free(s.data);
    return status;
}

long client_call_vm(const char *name, const char *method, const char *path, json_t *body,
                    json_t **reply, char *err, size_t errlen)
{
    char dir[HOME_PATH_MAX], sock[HOME_PATH_MAX];
    if (home_vm_dir(name, dir, sizeof(dir), err, errlen))
        return -1;
    struct home_proc p;
    home_read_proc(dir, &p);
    if (!p.alive) {
        snprintf(err, errlen, "VM '%s' is not running", name);
        return -1;
    }
    home_file(dir, "api.sock", sock, sizeof(sock));
    return client_call(sock, method, path, body, reply, err, errlen);
}
