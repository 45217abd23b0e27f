/* Files in the network: slices, blocks, the Merkle roots that bind them,
 * the file id, and the streaming hasher that computes them.
 *
 * A file of `size` bytes is cut into slices of `slice_size` bytes (the
 * last one shorter; a 0-byte file has no slice), each slice into blocks
 * of ST_FILE_BLOCK bytes (the last one shorter). Then:
 *
 *   block hash   = st_merkle_leaf(block bytes)
 *   slice root   = st_merkle_root(the slice's block hashes)
 *   slices root  = st_merkle_root(the slice roots)   (the empty root for none)
 *   file root    = H(ST_DOM_FILE, "stratos-file-v1" || size (8, BE) ||
 *                    slice_size (4, BE) || slices root)
 *   file id      = the file root, as 64 lowercase hex digits
 *
 * so the id commits to every byte, the size and the layout, and a block
 * is checked against its slice root with a Merkle proof (or the slice's
 * block hash list), a slice root against the file root with another.
 * For private files the blocks hashed are the ciphertext blocks.
 *
 * The label is hashed as its 15 bytes (no NUL). Neither a slice root nor
 * the slices root records lengths: a verifier derives a slice's length
 * from size, slice size and index, and only the file root fixes the
 * layout. A block hash list must be checked against its slice root by
 * whoever receives it (st_file_block_check trusts the list). */
#ifndef STRATOS_ST_FILE_H
#define STRATOS_ST_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stratos/st_crypto.h>

#define ST_FILE_BLOCK (256u * 1024u)
#define ST_FILE_SLICE_DEFAULT (32u * 1024u * 1024u)
/* Slice sizes are whole blocks, from one block to 1 GiB. */
#define ST_FILE_SLICE_MIN ST_FILE_BLOCK
#define ST_FILE_SLICE_MAX (1024u * 1024u * 1024u)
#define ST_FILE_ID_LEN (2 * ST_HASH_LEN)

/* The number of slices of a file, and of blocks of a slice. */
uint64_t st_file_slices(uint64_t size, uint32_t slice_size);
uint32_t st_file_blocks(uint64_t slice_len);

/* The file root from its size, slice size and slice roots; ST_EINVAL for
 * a bad slice size or a root count that is not st_file_slices(size,
 * slice_size). */
int st_file_root(uint64_t size, uint32_t slice_size, const uint8_t (*slice_roots)[ST_HASH_LEN],
                 size_t nslices, uint8_t root[ST_HASH_LEN]);

/* 64 lowercase hex digits and a NUL. */
void st_file_id(const uint8_t root[ST_HASH_LEN], char out[ST_FILE_ID_LEN + 1]);
/* Parses an id (exactly 64 hex digits, either case); ST_EINVAL otherwise. */
int st_file_id_parse(const char *id, uint8_t root[ST_HASH_LEN]);

/* ---- streaming ----
 * Feed the bytes in order, in pieces of any size; the hasher keeps one
 * block at a time and the block hashes of the current slice, so its
 * memory is bounded whatever the file size. on_slice (may be NULL) is
 * called as each slice completes, with its index, length, root and block
 * hashes (borrowed for the call); returning non-zero stops with that
 * code. */
typedef int (*st_file_slice_cb)(void *ud, uint64_t index, uint64_t len,
                                const uint8_t root[ST_HASH_LEN],
                                const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks);

typedef struct st_file_hasher st_file_hasher_t;

int st_file_hasher_new(uint32_t slice_size, st_file_slice_cb on_slice, void *ud,
                       st_file_hasher_t **out);
int st_file_hasher_update(st_file_hasher_t *h, const void *data, size_t n);
/* After an error of on_slice or of memory, every later call returns that
 * error; after a successful final, ST_EINVAL.
 * Ends the file: completes the last slice and computes the file root.
 * *nslices receives the count; the slice roots stay readable through
 * st_file_hasher_slice_root until the hasher is freed. */
int st_file_hasher_final(st_file_hasher_t *h, uint64_t *size, uint8_t root[ST_HASH_LEN],
                         uint64_t *nslices);
const uint8_t *st_file_hasher_slice_root(const st_file_hasher_t *h, uint64_t index);
void st_file_hasher_free(st_file_hasher_t *h);

/* Checks one block of a slice: index within the slice, its bytes, the
 * slice's block hash list; 0 or ST_EBADSIG-like ST_ECORRUPT on mismatch. */
int st_file_block_check(const void *data, size_t len, uint32_t index,
                        const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks);

#endif
