// Drives the emulator's blob service with @azure/storage-blob 12.34.0, with Shared Key and with
// a connection string. Env: BLOB_ENDPOINT, STORAGE_ACCOUNT, STORAGE_KEY. Exits non-zero on any
// failure.
import { check, checked, require } from "./check.mjs";
import { randomBytes } from "node:crypto";

const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");

const cred = new StorageSharedKeyCredential(process.env.STORAGE_ACCOUNT, process.env.STORAGE_KEY);
const service = new BlobServiceClient(process.env.BLOB_ENDPOINT, cred);
const container = service.getContainerClient("jsdata");
await container.create({ metadata: { owner: "js" } });
check((await container.getProperties()).metadata.owner === "js", "container create, properties");
const names = [];
for await (const c of service.listContainers()) names.push(c.name);
check(names.includes("jsdata"), "list containers");

const small = container.getBlockBlobClient("small.txt");
await small.upload("hello", 5, { blobHTTPHeaders: { blobContentType: "text/plain" } });
const big = randomBytes(10 * 1024 * 1024 + 123);
const blob = container.getBlockBlobClient("dir/big.bin");
await blob.uploadData(big, { blockSize: 4 * 1024 * 1024, concurrency: 4 });
const props = await blob.getProperties();
check(props.contentLength === big.length, "uploadData in blocks, getProperties");
const back = await blob.downloadToBuffer(undefined, undefined, { blockSize: 4 * 1024 * 1024, concurrency: 4 });
check(Buffer.compare(back, big) === 0, "downloadToBuffer in ranges");
const range = await blob.download(100, 50);
const chunks = [];
for await (const d of range.readableStreamBody) chunks.push(d);
check(Buffer.compare(Buffer.concat(chunks), big.subarray(100, 150)) === 0, "ranged download");
await small.setMetadata({ k: "v" });
check((await small.getProperties()).metadata.k === "v", "set metadata");
const listed = [];
for await (const b of container.listBlobsFlat({ prefix: "dir/" })) listed.push(b.name);
check(listed.length === 1 && listed[0] === "dir/big.bin", "list blobs with a prefix");
const byHierarchy = [];
for await (const item of container.listBlobsByHierarchy("/")) byHierarchy.push(item.kind + ":" + item.name);
check(byHierarchy.includes("prefix:dir/") && byHierarchy.includes("blob:small.txt"), "list by hierarchy");

const conn = `DefaultEndpointsProtocol=http;AccountName=${process.env.STORAGE_ACCOUNT};AccountKey=${process.env.STORAGE_KEY};BlobEndpoint=${process.env.BLOB_ENDPOINT};`;
const viaConn = BlobServiceClient.fromConnectionString(conn).getContainerClient("jsdata");
check((await viaConn.getBlobClient("small.txt").downloadToBuffer()).toString() === "hello", "connection string");
await small.delete();
check(!(await small.exists()), "delete, exists");
await container.delete();
check(!(await container.exists()), "container delete");
console.log(`steps: ${checked()}`);
console.log("blob.mjs: all checks passed");
