/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Devices of a scenario: the one table of device types, the checks of
 * each device entry and of blk images and ranges, and the check that
 * VMs sharing an image do not write over each other.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "scenario_int.h"

#define SECTOR		512

static void check_blk(struct ctx *c, config_setting_t *d, const char *vm,
    struct device_cfg *dev, int nerrors);
static void check_net(struct ctx *c, config_setting_t *d, const char *vm,
    struct device_cfg *dev, int nerrors);

static const char *const blk_keys[] = {
	"type", "id", "image", "range", "readonly", "serial", "supervise",
	"uid", NULL,
};

static const char *const net_keys[] = {
	"type", "id", "mac", "backend", "supervise", "uid", NULL,
};

/*
 * The one table of device types.  A type becomes usable when its
 * mediator is built: flip its flag and the rest of a device entry
 * (id, then the type's own keys) gets checked.  keys lists every key
 * an entry of the type may have (NULL lets any key through), check
 * checks the type's own keys.
 */
static const struct {
	const char *type;
	bool built;
	const char *const *keys;
	void (*check)(struct ctx *c, config_setting_t *d, const char *vm,
	    struct device_cfg *dev, int nerrors);
} device_types[] = {
	{ "blk", true, blk_keys, check_blk },
	{ "net", true, net_keys, check_net },
	{ "usb", false, NULL, NULL },
	{ "gpu", false, NULL, NULL },
};
#define NDEVICE_TYPES	(int)(sizeof(device_types) / sizeof(device_types[0]))

/*
 * A checked blk device, kept until every VM is read so that sharing of
 * one image can be checked across VMs.  Images are told apart by what
 * they are, not by the path that names them.
 */
struct blk_use {
	const struct device_cfg *dev;
	char vm[SC_NAME_MAX + 16];	/* as messages name it: 'ivi' or #2 */
	config_setting_t *where;	/* range, else image: for sc_report() */
	bool blkdev;
	dev_t st_dev;			/* file system, or 0 for a device */
	ino_t st_ino;			/* inode, or the device number */
};

/* A net device's MAC, kept until every VM is read: no two may share one. */
struct net_use {
	const struct device_cfg *dev;
	char vm[SC_NAME_MAX + 16];
	config_setting_t *where;	/* mac, else the device */
};

/* Reports every key of device group d that its type does not know. */
static void
check_device_keys(struct ctx *c, config_setting_t *d, int t,
    const char *id, const char *vm)
{
	const char *const *keys = device_types[t].keys;
	int i, j;

	if (!keys)
		return;
	for (i = 0; i < config_setting_length(d); i++) {
		config_setting_t *k = config_setting_get_elem(d, i);
		const char *name = config_setting_name(k);

		for (j = 0; keys[j]; j++) {
			if (strcmp(name, keys[j]) == 0)
				break;
		}
		if (!keys[j])
			sc_report(c, k, "unknown key '%s' in device '%s' of "
			    "vm %s", name, id, vm);
	}
}

/*
 * Parses "START/SECTORS", two decimal numbers of 512-byte sectors.
 * Returns 0, or -EINVAL when malformed or out of 64 bits.
 */
static int
parse_range(const char *s, uint64_t *start, uint64_t *sectors)
{
	uint64_t v[2] = { 0, 0 };
	const char *p = s;
	int i;

	for (i = 0; i < 2; i++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			unsigned int d = (unsigned int)(*p - '0');

			if (v[i] > (UINT64_MAX - d) / 10)
				return -EINVAL;
			v[i] = v[i] * 10 + d;
		}
		if (*p != (i == 0 ? '/' : '\0'))
			return -EINVAL;
		p++;
	}
	*start = v[0];
	*sectors = v[1];
	return 0;
}

/*
 * Stats the image at abs into *st and its size in whole sectors into
 * *sectors (a block device is asked with BLKGETSIZE64).  Returns 0, or
 * -errno with the reason reported at s.
 */
static int
image_size(struct ctx *c, config_setting_t *s, const char *abs,
    struct stat *st, uint64_t *sectors)
{
	uint64_t bytes;
	int fd, err;

	if (stat(abs, st) < 0 || access(abs, R_OK) < 0) {
		err = errno;
		sc_report(c, s, "image '%s': %s", abs, strerror(err));
		return -err;
	}
	if (S_ISREG(st->st_mode)) {
		*sectors = (uint64_t)st->st_size / SECTOR;
		return 0;
	}
	if (!S_ISBLK(st->st_mode)) {
		sc_report(c, s, "image '%s': not a regular file or block "
		    "device", abs);
		return -EINVAL;
	}
	fd = open(abs, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
		err = errno;
		sc_report(c, s, "image '%s': %s", abs, strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	close(fd);
	*sectors = bytes / SECTOR;
	return 0;
}

/* Checks the image and range keys of blk device d into dev. */
static int
check_blk_image(struct ctx *c, config_setting_t *d, const char *vm,
    struct device_cfg *dev, struct blk_use *use)
{
	config_setting_t *is, *rs;
	const char *val;
	struct stat st;
	char *abs;

	if (!(is = sc_get_string(c, d, "image", &val))) {
		if (!config_setting_get_member(d, "image"))
			sc_report(c, d, "missing 'image' in device '%s' of "
			    "vm %s", dev->id, vm);
		return -EINVAL;
	}
	if (val[0] == '\0') {
		sc_report(c, is, "'image' is empty");
		return -EINVAL;
	}
	if (!(abs = sc_path_resolve(c->dir, val))) {
		c->nomem = true;
		return -ENOMEM;
	}
	dev->image = abs;
	if (image_size(c, is, abs, &st, &dev->image_sectors) < 0)
		return -EINVAL;
	use->blkdev = S_ISBLK(st.st_mode);
	use->st_dev = use->blkdev ? 0 : st.st_dev;
	use->st_ino = use->blkdev ? (ino_t)st.st_rdev : st.st_ino;
	use->where = is;
	if (!dev->readonly && access(abs, W_OK) < 0) {
		sc_report(c, is, "image '%s' is not writable (%s); set "
		    "readonly = true to share it read-only", abs,
		    strerror(errno));
		return -EINVAL;
	}

	if (!(rs = sc_get_string(c, d, "range", &val))) {
		if (config_setting_get_member(d, "range"))
			return -EINVAL;
		if (dev->image_sectors == 0) {
			sc_report(c, is, "image '%s' holds no whole sector of "
			    "512 bytes", abs);
			return -EINVAL;
		}
		return 0;
	}
	use->where = rs;
	if (parse_range(val, &dev->range_start, &dev->range_sectors) < 0) {
		sc_report(c, rs, "range '%s' is not START/SECTORS in 512-byte "
		    "sectors, such as \"2048/4096\"", val);
		return -EINVAL;
	}
	if (dev->range_sectors == 0) {
		sc_report(c, rs, "range '%s' has no sectors", val);
		return -EINVAL;
	}
	if (dev->range_start >= dev->image_sectors ||
	    dev->range_sectors > dev->image_sectors - dev->range_start) {
		sc_report(c, rs, "range '%s' goes past the end of image '%s' "
		    "(%llu sectors)", val, abs,
		    (unsigned long long)dev->image_sectors);
		return -EINVAL;
	}
	return 0;
}

/*
 * Checks the keys of a blk device; dev->id is already set.  A device
 * without any error since c->nerrors was nerrors is remembered in c->blk
 * for the sharing check (one with errors would only add confusing ones,
 * say a readonly = "yes" taken as writable).
 */
static void
check_blk(struct ctx *c, config_setting_t *d, const char *vm,
    struct device_cfg *dev, int nerrors)
{
	struct blk_use use = { .dev = dev }, *grown;
	config_setting_t *s;
	const char *val;
	size_t n;

	if ((s = config_setting_get_member(d, "readonly"))) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			sc_report(c, s, "'readonly' must be true or false");
		else
			dev->readonly = config_setting_get_bool(s);
	}

	/* The default serial is the id, cut to what GET_ID can carry. */
	snprintf(dev->serial, sizeof(dev->serial), "%.*s", SC_SERIAL_MAX,
	    dev->id);
	if ((s = sc_get_string(c, d, "serial", &val))) {
		n = strlen(val);
		if (n > SC_SERIAL_MAX)
			sc_report(c, s, "serial '%s' is longer than %d "
			    "characters", val, SC_SERIAL_MAX);
		else if (strspn(val, " !\"#$%&'()*+,-./0123456789:;<=>?@"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
		    "abcdefghijklmnopqrstuvwxyz{|}~") != n)
			sc_report(c, s, "serial '%s' must be printable ASCII",
			    val);
		else
			snprintf(dev->serial, sizeof(dev->serial), "%s", val);
	}

	if (check_blk_image(c, d, vm, dev, &use) < 0 || c->nerrors != nerrors)
		return;
	snprintf(use.vm, sizeof(use.vm), "%s", vm);
	grown = realloc(c->blk, ((size_t)c->nblk + 1) * sizeof(*c->blk));
	if (!grown) {
		c->nomem = true;
		return;
	}
	c->blk = grown;
	c->blk[c->nblk++] = use;
}

/*
 * Checks the 'devices' list of VM group g (named vm in messages) into
 * cfg->devices: type, id, then the keys of the device's type.  Every
 * problem is reported; nothing is returned.
 */
void
sc_check_devices(struct ctx *c, config_setting_t *g, const char *vm,
    struct vm_cfg *cfg)
{
	config_setting_t *s = config_setting_get_member(g, "devices");
	int count[NDEVICE_TYPES] = { 0 };
	int i, j, n, nerrors;

	if (!s)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(s) == CONFIG_TYPE_ARRAY &&
	    config_setting_length(s) == 0)) {
		sc_report(c, s, "'devices' must be a list of groups");
		return;
	}
	n = config_setting_length(s);
	if (n == 0)
		return;
	cfg->devices = calloc((size_t)n, sizeof(*cfg->devices));
	if (!cfg->devices) {
		c->nomem = true;
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *d = config_setting_get_elem(s, i), *ts, *is,
		    *ss;
		struct device_cfg *dev = &cfg->devices[cfg->ndevices];
		const char *type, *id;
		int t, index;

		if (config_setting_type(d) != CONFIG_TYPE_GROUP) {
			sc_report(c, d, "devices[%d] must be a group", i);
			continue;
		}
		if (!(ts = sc_get_string(c, d, "type", &type))) {
			if (!config_setting_get_member(d, "type"))
				sc_report(c, d, "devices[%d] has no 'type'", i);
			continue;
		}
		t = scenario_device_type(type);
		if (t < 0) {
			sc_report(c, ts, "unknown device type '%s'", type);
			continue;
		}
		if (!(c->host->devices_built & (1u << t))) {
			sc_report(c, ts, "device type '%s': its mediator is "
			    "not built yet", type);
			continue;
		}
		/* Named devices count too: blk0, data, blk2. */
		index = count[t]++;
		snprintf(dev->type, sizeof(dev->type), "%s", type);
		dev->line = config_setting_source_line(d);
		if ((is = sc_get_string(c, d, "id", &id))) {
			if (!sc_valid_name(id)) {
				sc_report(c, is, "device id '%s' must be 1-31 "
				    "characters of A-Z a-z 0-9 _ -", id);
				continue;
			}
			snprintf(dev->id, sizeof(dev->id), "%s", id);
		} else if (config_setting_get_member(d, "id"))
			continue;
		else
			snprintf(dev->id, sizeof(dev->id), "%s%d", type, index);
		for (j = 0; j < cfg->ndevices; j++) {
			if (strcmp(cfg->devices[j].id, dev->id) == 0) {
				sc_report(c, is ? is : d, "duplicate device id "
				    "'%s' in vm %s (first at line %d)",
				    dev->id, vm, cfg->devices[j].line);
				break;
			}
		}
		if (j < cfg->ndevices)
			continue;
		cfg->ndevices++;
		nerrors = c->nerrors;
		check_device_keys(c, d, t, dev->id, vm);
		dev->supervise = c->sup;
		if ((ss = config_setting_get_member(d, "supervise")) != NULL)
			sc_check_supervise(c, ss, &dev->supervise);
		if ((ss = config_setting_get_member(d, "uid")) != NULL)
			sc_check_uid(c, ss, dev);
		if (device_types[t].check)
			device_types[t].check(c, d, vm, dev, nerrors);
	}
}

/* First and one-past-last sector a blk device uses of its image. */
static void
blk_extent(const struct device_cfg *d, uint64_t *first, uint64_t *end)
{
	if (d->range_sectors == 0) {
		/* The whole image: whatever its size, every range meets it. */
		*first = 0;
		*end = UINT64_MAX;
		return;
	}
	*first = d->range_start;
	*end = d->range_start + d->range_sectors;	/* checked to fit */
}

/*
 * Across every VM: two devices on one image may share sectors only when
 * both are read-only.  Each device is reported once, against the first
 * earlier device it collides with.
 */
void
sc_check_blk_sharing(struct ctx *c)
{
	int i, j;

	for (i = 1; i < c->nblk; i++) {
		const struct blk_use *b = &c->blk[i];
		const struct device_cfg *bd = b->dev;
		uint64_t bfirst, bend;

		blk_extent(bd, &bfirst, &bend);
		for (j = 0; j < i; j++) {
			const struct blk_use *a = &c->blk[j];
			uint64_t afirst, aend;

			if (a->blkdev != b->blkdev || a->st_dev != b->st_dev ||
			    a->st_ino != b->st_ino)
				continue;
			if (a->dev->readonly && bd->readonly)
				continue;
			blk_extent(a->dev, &afirst, &aend);
			if (afirst >= bend || bfirst >= aend)
				continue;
			if (bd->range_sectors == 0)
				sc_report(c, b->where, "whole image '%s' "
				    "overlaps vm %s device '%s' (line %d)",
				    bd->image, a->vm, a->dev->id, a->dev->line);
			else
				sc_report(c, b->where, "range %llu/%llu of "
				    "image '%s' overlaps vm %s device '%s' "
				    "(line %d)",
				    (unsigned long long)bd->range_start,
				    (unsigned long long)bd->range_sectors,
				    bd->image, a->vm, a->dev->id, a->dev->line);
			break;
		}
	}
}

/* Returns the table index of type, or -1 (see scenario.h). */
int
scenario_device_type(const char *type)
{
	int i;

	for (i = 0; i < NDEVICE_TYPES; i++) {
		if (strcmp(device_types[i].type, type) == 0)
			return i;
	}
	return -1;
}

/*
 * Describes this machine: memory from _SC_PHYS_PAGES, CPUs 0 .. n-1 from
 * _SC_NPROCESSORS_CONF, and the device types whose mediators are built.
 */
void
scenario_host_probe(struct sc_host *host)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long pagesize = sysconf(_SC_PAGESIZE);
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	int i;

	memset(host, 0, sizeof(*host));
	if (pages > 0 && pagesize > 0)
		host->memory = (uint64_t)pages * (uint64_t)pagesize;
	host->ncpus = ncpus > 0 ? (int)ncpus : 1;
	for (i = 0; i < NDEVICE_TYPES; i++) {
		if (device_types[i].built)
			host->devices_built |= 1u << i;
	}
}

/*
 * Parses "xx:xx:xx:xx:xx:xx" (hex digits, either case) into mac.
 * Returns 0 or -EINVAL.
 */
static int
parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		unsigned v = 0;

		for (int j = 0; j < 2; j++, s++) {
			if (!isxdigit((unsigned char)*s))
				return -EINVAL;
			v = v * 16 + (unsigned)(isdigit((unsigned char)*s) ?
			    *s - '0' : (tolower((unsigned char)*s) - 'a' + 10));
		}
		mac[i] = (uint8_t)v;
		if (*s != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		s++;
	}
	return 0;
}

void
scenario_default_mac(const char *vm, const char *id, uint8_t mac[6])
{
	/* FNV-1a over "vm/id": stable across runs and builds. */
	uint64_t h = 0xcbf29ce484222325ull;
	const char *parts[3] = { vm, "/", id };

	for (int p = 0; p < 3; p++)
		for (const char *q = parts[p]; *q; q++) {
			h ^= (uint8_t)*q;
			h *= 0x100000001b3ull;
		}
	/* FNV's last steps hardly reach the high bits: mix them in. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	/* Locally administered, unicast: 0x02 in the first octet. */
	mac[0] = 0x02;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * (i - 1)));
}

/* Whether s may name a Linux network interface (and be a tap's name). */
static bool
valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SC_IFNAME_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.-") == n;
}

/* Checks the backend key of net device d into dev. */
static void
check_net_backend(struct ctx *c, config_setting_t *d, const char *vm,
    struct device_cfg *dev)
{
	config_setting_t *s;
	const char *val, *name;

	if (!(s = sc_get_string(c, d, "backend", &val))) {
		if (!config_setting_get_member(d, "backend"))
			sc_report(c, d, "missing 'backend' in device '%s' of "
			    "vm %s (\"tap:IFNAME\" or \"switch:NAME\")",
			    dev->id, vm);
		return;
	}
	if (strncmp(val, "tap:", 4) == 0) {
		name = val + 4;
		if (!valid_ifname(name)) {
			sc_report(c, s, "backend '%s': a tap name is 1-%d "
			    "characters of A-Z a-z 0-9 _ . -", val,
			    SC_IFNAME_MAX);
			return;
		}
		dev->backend = NET_BACKEND_TAP;
	} else if (strncmp(val, "switch:", 7) == 0) {
		name = val + 7;
		if (!sc_valid_name(name)) {
			sc_report(c, s, "backend '%s': a switch name is 1-31 "
			    "characters of A-Z a-z 0-9 _ -", val);
			return;
		}
		dev->backend = NET_BACKEND_SWITCH;
	} else {
		sc_report(c, s, "backend '%s' is not \"tap:IFNAME\" or "
		    "\"switch:NAME\"", val);
		return;
	}
	snprintf(dev->backend_name, sizeof(dev->backend_name), "%s", name);
}

/*
 * Checks the keys of a net device; dev->id is already set.  Its MAC is
 * remembered for sc_check_net_macs() when the device had no error.
 */
static void
check_net(struct ctx *c, config_setting_t *d, const char *vm,
    struct device_cfg *dev, int nerrors)
{
	struct net_use use = { .dev = dev, .where = d }, *grown;
	config_setting_t *s;
	const char *val;

	dev->port_fd = -1;
	scenario_default_mac(vm, dev->id, dev->mac);
	if ((s = sc_get_string(c, d, "mac", &val))) {
		use.where = s;
		if (parse_mac(val, dev->mac) < 0)
			sc_report(c, s, "mac '%s' is not six hex bytes such as "
			    "\"02:00:00:00:00:01\"", val);
		else if (dev->mac[0] & 1)
			sc_report(c, s, "mac '%s' is a multicast address", val);
		else if ((dev->mac[0] | dev->mac[1] | dev->mac[2] |
		    dev->mac[3] | dev->mac[4] | dev->mac[5]) == 0)
			sc_report(c, s, "mac '%s' is all zeros", val);
	}
	check_net_backend(c, d, vm, dev);
	if (c->nerrors != nerrors)
		return;
	snprintf(use.vm, sizeof(use.vm), "%s", vm);
	grown = realloc(c->net, ((size_t)c->nnet + 1) * sizeof(*c->net));
	if (!grown) {
		c->nomem = true;
		return;
	}
	c->net = grown;
	c->net[c->nnet++] = use;
}

/* Across every VM: no two net devices with one MAC. */
void
sc_check_net_macs(struct ctx *c)
{
	for (int i = 1; i < c->nnet; i++)
		for (int j = 0; j < i; j++) {
			const struct net_use *a = &c->net[j], *b = &c->net[i];

			if (memcmp(a->dev->mac, b->dev->mac, 6) != 0)
				continue;
			sc_report(c, b->where, "mac %02x:%02x:%02x:%02x:%02x:"
			    "%02x of device '%s' is also vm %s device '%s' "
			    "(line %d)", b->dev->mac[0], b->dev->mac[1],
			    b->dev->mac[2], b->dev->mac[3], b->dev->mac[4],
			    b->dev->mac[5], b->dev->id, a->vm, a->dev->id,
			    a->dev->line);
			break;
		}
}
