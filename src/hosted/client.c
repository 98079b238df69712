/* One request to a VM's control API over its unix socket, with libcurl. */
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

long client_call(const char *sock, const char *method, const char *path, json_t *body,
                 json_t **reply, char *err, size_t errlen)
{
    if (reply)
        *reply = NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot start an HTTP client");
        return -1;
    }
    char url[512];
    snprintf(url, sizeof(url), "http://localhost%s", path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct sink s = { NULL, 0 };
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
    if (!strcmp(method, "GET"))
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "the VM's API at '%s' does not answer: %s", sock,
                 curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
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
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
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
