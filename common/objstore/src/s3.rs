//! S3 (or any S3-compatible server) as an object store, on `aws-sdk-s3`.
//! Object `name` is the key `<prefix>/<name>` in the bucket. A small
//! object is one `PutObject`; a larger one a multipart upload of
//! [`PART_BYTES`] parts, completed only in [`ObjectWriter::finish`] — S3
//! shows an object only once its upload completed, so a killed writer
//! leaves nothing visible (an unfinished upload, which bucket lifecycle
//! rules clear). Credentials come from the standard AWS environment and
//! config files.

use crate::{ObjectInfo, ObjectStore, ObjectWriter, StoreError, check_name};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};

/// Size of each part of a multipart upload (S3's minimum is 5 MiB).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// A bucket (and key prefix) on an S3 endpoint.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
}

fn s3_err<E: std::error::Error + Send + Sync + 'static>(op: &'static str, name: &str, e: E) -> StoreError {
    StoreError::S3 { op, name: name.to_string(), detail: DisplayErrorContext(e).to_string() }
}

impl S3Store {
    /// The store `bucket[/prefix][?endpoint=URL&region=R&path_style=true]`
    /// (what follows `s3://`).
    pub async fn open(spec: &str) -> Result<S3Store, StoreError> {
        S3Store::open_with(spec, None).await
    }

    /// [`S3Store::open`] with these credentials (access key id, secret)
    /// instead of the environment's.
    pub async fn open_with(spec: &str, keys: Option<(&str, &str)>) -> Result<S3Store, StoreError> {
        let bad = |why: &str| StoreError::BadUrl(format!("s3://{spec}"), why.to_string());
        let (path, query) = spec.split_once('?').unwrap_or((spec, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket"));
        }
        let (mut endpoint, mut region, mut path_style) = (None, None, false);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("endpoint", v)) => endpoint = Some(v.to_string()),
                Some(("region", v)) => region = Some(v.to_string()),
                Some(("path_style", v)) => path_style = v == "true",
                _ => return Err(bad(&format!("unknown parameter {pair:?} (endpoint, region, path_style)"))),
            }
        }
        let mut loader = aws_config::from_env();
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r));
        }
        if let Some((id, secret)) = keys {
            let creds = aws_sdk_s3::config::Credentials::new(id, secret, None, None, "sixfold");
            loader = loader.credentials_provider(creds);
        }
        let shared = loader.load().await;
        let mut conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(path_style);
        if let Some(ep) = &endpoint {
            conf = conf.endpoint_url(ep);
        }
        let client = Client::from_conf(conf.build());
        let prefix = prefix.trim_end_matches('/').to_string();
        let endpoint = endpoint.unwrap_or_else(|| "AWS".into());
        Ok(S3Store { client, bucket: bucket.to_string(), prefix, endpoint })
    }

    fn key(&self, name: &str) -> Result<String, StoreError> {
        check_name(name)?;
        Ok(if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) })
    }

    /// Creates the bucket (a new S3-compatible server in tests and demos).
    pub async fn create_bucket(&self) -> Result<(), StoreError> {
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if e.err().is_bucket_already_owned_by_you() || e.err().is_bucket_already_exists() =>
            {
                Ok(())
            }
            Err(e) => Err(s3_err("CreateBucket", &self.bucket, e)),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn create(&self, name: &str) -> Result<Box<dyn ObjectWriter>, StoreError> {
        let key = self.key(name)?;
        let store = self.clone();
        Ok(Box::new(S3Writer { store, key, buf: BytesMut::new(), upload: None, parts: Vec::new(), size: 0 }))
    }

    async fn read_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        let key = self.key(name)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let range = format!("bytes={offset}-{}", offset + len - 1);
        let got = self.client.get_object().bucket(&self.bucket).key(&key).range(range).send().await;
        let out = match got {
            Ok(o) => o,
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => {
                return Err(StoreError::NotFound(name.into()));
            }
            // Past the end: S3 answers 416 Range Not Satisfiable.
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 416 => return Ok(Bytes::new()),
            Err(e) => return Err(s3_err("GetObject", &key, e)),
        };
        let body = out.body.collect().await.map_err(|e| s3_err("GetObject", &key, e))?;
        Ok(body.into_bytes())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let full = if self.prefix.is_empty() { prefix.to_string() } else { format!("{}/{prefix}", self.prefix) };
        let strip = if self.prefix.is_empty() { 0 } else { self.prefix.len() + 1 };
        let mut out = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&full).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_err("ListObjectsV2", &full, e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let name = key.get(strip..).unwrap_or_default().to_string();
                if check_name(&name).is_ok() {
                    out.push(ObjectInfo { name, size: o.size().unwrap_or(0).max(0) as u64 });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        let key = self.key(name)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| s3_err("DeleteObject", &key, e))?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("s3://{}/{} at {}", self.bucket, self.prefix, self.endpoint)
    }
}

struct S3Writer {
    store: S3Store,
    key: String,
    /// Bytes not yet sent (less than a part).
    buf: BytesMut,
    /// The multipart upload, once the object is past one part.
    upload: Option<String>,
    parts: Vec<CompletedPart>,
    size: u64,
}

impl S3Writer {
    async fn send_part(&mut self, data: Bytes) -> Result<(), StoreError> {
        let (c, bucket, key) = (&self.store.client, &self.store.bucket, &self.key);
        let id = match &self.upload {
            Some(id) => id.clone(),
            None => {
                let up = c.create_multipart_upload().bucket(bucket).key(key).send().await;
                let up = up.map_err(|e| s3_err("CreateMultipartUpload", key, e))?;
                let id = up.upload_id().unwrap_or_default().to_string();
                self.upload = Some(id.clone());
                id
            }
        };
        let n = self.parts.len() as i32 + 1;
        let body = ByteStream::from(data);
        let part = c.upload_part().bucket(bucket).key(key).upload_id(&id).part_number(n).body(body).send().await;
        let part = part.map_err(|e| s3_err("UploadPart", key, e))?;
        self.parts.push(CompletedPart::builder().part_number(n).set_e_tag(part.e_tag().map(str::to_string)).build());
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, data: Bytes) -> Result<(), StoreError> {
        self.size += data.len() as u64;
        self.buf.extend_from_slice(&data);
        while self.buf.len() >= PART_BYTES {
            let part = self.buf.split_to(PART_BYTES).freeze();
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        let rest = std::mem::take(&mut self.buf).freeze();
        let (c, bucket) = (self.store.client.clone(), self.store.bucket.clone());
        if self.upload.is_none() {
            let put = c.put_object().bucket(&bucket).key(&self.key).body(ByteStream::from(rest)).send().await;
            put.map_err(|e| s3_err("PutObject", &self.key, e))?;
            return Ok(self.size);
        }
        if !rest.is_empty() {
            self.send_part(rest).await?;
        }
        let id = self.upload.clone().unwrap_or_default();
        let done = CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts))).build();
        let complete =
            c.complete_multipart_upload().bucket(&bucket).key(&self.key).upload_id(id).multipart_upload(done);
        complete.send().await.map_err(|e| s3_err("CompleteMultipartUpload", &self.key, e))?;
        Ok(self.size)
    }

    async fn abort(self: Box<Self>) -> Result<(), StoreError> {
        if let Some(id) = &self.upload {
            let c = &self.store.client;
            let abort = c.abort_multipart_upload().bucket(&self.store.bucket).key(&self.key).upload_id(id);
            abort.send().await.map_err(|e| s3_err("AbortMultipartUpload", &self.key, e))?;
        }
        Ok(())
    }
}
