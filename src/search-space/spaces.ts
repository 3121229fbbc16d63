/** Every built-in space, registered by importing this module. */
import './neighbourhood.js';

export { getSpace, spaceNames, type ArchSpace } from './space.js';
